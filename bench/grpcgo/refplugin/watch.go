package main

import (
	"bytes"
	"syscall"
	"unsafe"
)

// watchCreate reports on the channel each time a file named name is created in
// dir (inotify IN_CREATE; binding a Unix socket creates its file).
func watchCreate(dir, name string) (<-chan struct{}, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	created := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 64*(syscall.SizeofInotifyEvent+syscall.NAME_MAX+1))
		for {
			n, err := syscall.Read(fd, buf)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || n <= 0 {
				return
			}
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				event := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
				nameBytes := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(event.Len)]
				if string(bytes.TrimRight(nameBytes, "\x00")) == name {
					select {
					case created <- struct{}{}:
					default: // one pending restart covers several creations
					}
				}
				off += syscall.SizeofInotifyEvent + int(event.Len)
			}
		}
	}()
	return created, nil
}
