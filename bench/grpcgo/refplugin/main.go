// Command refplugin is the reference device plugin of the kubelet benchmark: a
// minimal grpc-go plugin of the kind users run (serve DevicePlugin v1beta1 on a
// socket in the kubelet's directory, register, list every device, answer
// Allocate with NVIDIA_VISIBLE_DEVICES), with no NVML behind it. Its GPUs are
// fake; its device IDs are MetaGPU's, cnvrg-meta-<gpu>-<share>-<uuid>, so the
// kubelet side sends it the same requests as the C# daemon.
//
// It registers again whenever kubelet.sock is created anew (a kubelet restart),
// noticed with inotify on the directory, as Go plugins do with fsnotify.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	dir := flag.String("kubelet-dir", "/var/lib/kubelet/device-plugins", "the kubelet's device-plugin directory")
	resource := flag.String("resource", "cnvrg.io/metagpu", "the extended resource name to register")
	gpus := flag.Int("gpus", 8, "fake GPUs")
	perGPU := flag.Int("meta-gpus", 100, "meta-devices per GPU")
	socket := flag.String("socket", "refplugin.sock", "the plugin's socket file name inside -kubelet-dir")
	flag.Parse()
	if flag.NArg() > 0 || *gpus < 1 || *perGPU < 1 {
		fmt.Fprintln(os.Stderr, "usage: refplugin [-kubelet-dir DIR] [-resource NAME] [-gpus N] [-meta-gpus N] [-socket NAME]")
		os.Exit(2)
	}
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	// Watch first, so a kubelet.sock created while we start is not missed.
	created, err := watchCreate(*dir, kubeletSocket)
	if err != nil {
		log.Fatalf("watching %s: %v", *dir, err)
	}
	p := newPlugin(*resource, fakeGPUs(*gpus, *perGPU))
	server := &endpoint{dir: *dir, socket: *socket, plugin: p}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	server.restart()
	for {
		select {
		case <-created:
			log.Printf("%s created again: the kubelet restarted", kubeletSocket)
			server.restart()
		case s := <-stop:
			log.Printf("%v: stopping", s)
			server.stop()
			return
		}
	}
}
