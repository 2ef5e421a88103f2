package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
)

// spec is one plugin to measure: a name for the figures and its command line,
// in which {dir}, {scratch}, {port} and {pod-resources} are replaced per launch.
type spec struct {
	name string
	argv []string
}

// session is one launch of a plugin in fresh folders, with its kubelet.
type session struct {
	name      string
	keepLog   string // where the plugin's output is copied at close; "" for nowhere
	root, dir string
	kubelet   *kubelet
	pods      *grpc.Server
	cmd       *exec.Cmd
	logPath   string
	started   time.Time
	exited    chan struct{}
	exitErr   error
	plugin    *pluginConn
}

// running is the session whose plugin runs now, for the signal handler.
var running struct {
	sync.Mutex
	session *session
}

// stopOnSignal makes SIGINT and SIGTERM stop the running plugin and remove its
// folders before kubeletsim exits.
func stopOnSignal() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-signals
		running.Lock()
		sess := running.session
		running.Unlock()
		if sess != nil {
			sess.close()
		}
		fmt.Fprintf(os.Stderr, "kubeletsim: %v: stopped\n", s)
		os.Exit(1)
	}()
}

// start launches the plugin and waits (at most timeout) until it has
// registered and listed every device healthy. With -logs, launch names its log.
func start(s spec, set settings, launch int, timeout time.Duration) (*session, error) {
	root, err := os.MkdirTemp("", "kubeletsim-")
	if err != nil {
		return nil, err
	}
	sess := &session{name: s.name, root: root, dir: filepath.Join(root, "device-plugins"), logPath: filepath.Join(root, "plugin.log"), exited: make(chan struct{})}
	if set.logDir != "" {
		sess.keepLog = filepath.Join(set.logDir, fmt.Sprintf("%s-%d.log", s.name, launch))
	}
	if err := os.Mkdir(sess.dir, 0o750); err != nil {
		sess.close()
		return nil, err
	}
	podSocket := filepath.Join(root, "pod-resources", "kubelet.sock")
	if set.podResources {
		if sess.pods, err = servePodResources(podSocket); err != nil {
			sess.close()
			return nil, fmt.Errorf("pod-resources: %w", err)
		}
	}
	sess.kubelet = newKubelet(sess.dir, set.resource, set.gpus*set.perGPU)
	if err := sess.kubelet.listen(); err != nil {
		sess.close()
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		sess.close()
		return nil, err
	}
	replacer := strings.NewReplacer("{dir}", sess.dir, "{scratch}", root, "{port}", strconv.Itoa(port), "{pod-resources}", podSocket)
	argv := make([]string, len(s.argv))
	for i, a := range s.argv {
		argv[i] = replacer.Replace(a)
	}
	logFile, err := os.Create(sess.logPath)
	if err != nil {
		sess.close()
		return nil, err
	}
	defer logFile.Close()
	sess.cmd = exec.Command(argv[0], argv[1:]...)
	sess.cmd.Stdout, sess.cmd.Stderr = logFile, logFile
	sess.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	running.Lock()
	sess.started = time.Now()
	err = sess.cmd.Start()
	if err == nil {
		running.session = sess
	}
	running.Unlock()
	if err != nil {
		sess.cmd = nil
		sess.close()
		return nil, err
	}
	go func() {
		sess.exitErr = sess.cmd.Wait()
		close(sess.exited)
	}()

	deadline := time.After(timeout)
	var p *pluginConn
	select {
	case p = <-sess.kubelet.registered:
	case <-sess.exited:
		return nil, sess.fail(fmt.Errorf("the plugin exited before registering (%v)", sess.exitErr))
	case <-deadline:
		return nil, sess.fail(fmt.Errorf("no registration within %v", timeout))
	}
	select {
	case <-p.listed:
	case <-p.ended:
		return nil, sess.fail(fmt.Errorf("ListAndWatch ended before listing every device: %v", p.endedErr))
	case <-sess.exited:
		return nil, sess.fail(fmt.Errorf("the plugin exited before listing its devices (%v)", sess.exitErr))
	case <-deadline:
		return nil, sess.fail(fmt.Errorf("%d healthy devices not listed within %v", set.gpus*set.perGPU, timeout))
	}
	sess.plugin = p
	return sess, nil
}

// guard runs a phase; past timeout it kills the plugin, which fails every call in flight.
func (s *session) guard(timeout time.Duration, phase func() error) error {
	timer := time.AfterFunc(timeout, func() { s.cmd.Process.Kill() })
	err := phase()
	if !timer.Stop() {
		return fmt.Errorf("did not finish within %v (the plugin was killed): %v", timeout, err)
	}
	return err
}

// fail closes the session and adds the end of the plugin's log to err.
func (s *session) fail(err error) error {
	s.stopPlugin()
	tail := s.logTail(15)
	s.close()
	return fmt.Errorf("%w\n%s", err, tail)
}

func (s *session) logTail(lines int) string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return "(no plugin log)"
	}
	defer f.Close()
	var tail []string
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		tail = append(tail, "  | "+scanner.Text())
		if len(tail) > lines {
			tail = tail[1:]
		}
	}
	if len(tail) == 0 {
		return "(the plugin wrote nothing)"
	}
	return "the plugin's last lines:\n" + strings.Join(tail, "\n")
}

// stopPlugin sends SIGTERM and waits up to 5 s, then kills; it says whether the plugin stopped on its own.
func (s *session) stopPlugin() (time.Duration, bool) {
	if s.cmd == nil {
		return 0, true
	}
	t := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return time.Since(t), true
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		return time.Since(t), false
	}
}

// close stops the plugin and removes the session's folders.
func (s *session) close() {
	s.stopPlugin()
	running.Lock()
	if running.session == s {
		running.session = nil
	}
	running.Unlock()
	s.cmd = nil
	if s.kubelet != nil {
		s.kubelet.stop()
	}
	if s.pods != nil {
		s.pods.Stop()
	}
	if s.keepLog != "" {
		if data, err := os.ReadFile(s.logPath); err == nil {
			os.WriteFile(s.keepLog, data, 0o644)
		}
		s.keepLog = ""
	}
	os.RemoveAll(s.root)
}

// memKiB is the plugin's resident memory and its anonymous part (VmRSS and RssAnon), from one read of /proc/PID/status.
func (s *session) memKiB() (rss, anon int64, err error) {
	pid := s.cmd.Process.Pid
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	if rss, err = statusKiB(data, "VmRSS:"); err != nil {
		return 0, 0, err
	}
	if anon, err = statusKiB(data, "RssAnon:"); err != nil {
		return 0, 0, err
	}
	return rss, anon, nil
}

// statusKiB is the kB figure of one field of a /proc/PID/status text.
func statusKiB(status []byte, field string) (int64, error) {
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, field) {
			if words := strings.Fields(line[len(field):]); len(words) > 0 {
				return strconv.ParseInt(words[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no " + field + " in /proc/PID/status")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cpuTime is the plugin's CPU time so far, user and system, every thread's, exited ones included
// (utime and stime of /proc/PID/stat, in clock ticks of 10 ms: USER_HZ is 100 on Linux).
func (s *session) cpuTime() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after it follow its closing parenthesis.
	text := string(data)
	words := strings.Fields(text[strings.LastIndexByte(text, ')')+1:])
	if len(words) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	var ticks int64
	for _, w := range words[11:13] { // utime and stime, fields 14 and 15
		v, err := strconv.ParseInt(w, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// ownCPUTime is this process's CPU time so far, user and system: the client's side of the calls
// (the simulated kubelet's servers are idle during a call loop).
func ownCPUTime() time.Duration {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
