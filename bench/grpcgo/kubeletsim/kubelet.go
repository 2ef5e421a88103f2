package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"metagpubench/deviceplugin/v1beta1"

	"google.golang.org/grpc"
)

// kubelet is the kubelet's device manager as a plugin sees it: Registration on
// <dir>/kubelet.sock; inside Register it dials the plugin's endpoint and asks
// for its options, then keeps ListAndWatch open on that one connection.
type kubelet struct {
	dir      string
	resource string
	devices  int // a listing is complete with this many healthy devices

	server     *grpc.Server
	listenedAt time.Time

	mu      sync.Mutex
	current *pluginConn

	// registered gets every plugin whose Register succeeded, in order.
	registered chan *pluginConn
}

func newKubelet(dir, resource string, devices int) *kubelet {
	return &kubelet{dir: dir, resource: resource, devices: devices, registered: make(chan *pluginConn, 64)}
}

func (k *kubelet) socket() string { return filepath.Join(k.dir, "kubelet.sock") }

// listen serves Registration on a new kubelet.sock and notes when it existed.
func (k *kubelet) listen() error {
	server := grpc.NewServer()
	v1beta1.RegisterRegistrationServer(server, k)
	listener, err := net.Listen("unix", k.socket())
	if err != nil {
		return err
	}
	k.listenedAt = time.Now()
	k.server = server
	go server.Serve(listener)
	return nil
}

// stop is the kubelet going away: its server and its connections to plugins close.
func (k *kubelet) stop() {
	if k.server != nil {
		k.server.Stop()
		k.server = nil
	}
	k.mu.Lock()
	current := k.current
	k.current = nil
	k.mu.Unlock()
	if current != nil {
		current.close()
	}
}

// restart is a kubelet restart: stop, delete every socket in the directory (the
// kubelet does), wait gap, listen again. It returns how many registrations came
// since the last one taken from k.registered (a plugin that registers twice).
func (k *kubelet) restart(gap time.Duration) (int, error) {
	k.stop()
	extra := 0
	for len(k.registered) > 0 {
		<-k.registered
		extra++
	}
	sockets, _ := filepath.Glob(filepath.Join(k.dir, "*.sock"))
	for _, s := range sockets {
		if err := os.Remove(s); err != nil && !errors.Is(err, os.ErrNotExist) {
			return extra, err
		}
	}
	time.Sleep(gap)
	return extra, k.listen()
}

// Register is the kubelet's check of the request, then the dial back.
func (k *kubelet) Register(_ context.Context, r *v1beta1.RegisterRequest) (*v1beta1.Empty, error) {
	arrived := time.Now()
	if r.Version != "v1beta1" {
		return nil, fmt.Errorf("requested device plugin version %s is not supported", r.Version)
	}
	if !strings.Contains(r.ResourceName, "/") || r.ResourceName != k.resource {
		return nil, fmt.Errorf("this kubelet expects resource %s, not %q", k.resource, r.ResourceName)
	}
	if r.Endpoint == "" || strings.Contains(r.Endpoint, "/") {
		return nil, fmt.Errorf("endpoint %q is not a file name in the plugin directory", r.Endpoint)
	}
	p, err := connect(filepath.Join(k.dir, r.Endpoint), k.devices)
	if err != nil {
		return nil, err
	}
	p.registeredAt = arrived
	p.endpoint = r.Endpoint
	k.mu.Lock()
	old := k.current
	k.current = p
	k.mu.Unlock()
	if old != nil {
		old.close() // the kubelet ends the old stream of a resource before taking the new one
	}
	go p.listAndWatch()
	select {
	case k.registered <- p:
	default:
	}
	return &v1beta1.Empty{}, nil
}

// pluginConn is the kubelet's one connection to a registered plugin.
type pluginConn struct {
	endpoint     string
	registeredAt time.Time
	conn         *grpc.ClientConn
	client       v1beta1.DevicePluginClient
	options      *v1beta1.DevicePluginOptions
	devices      int

	ctx    context.Context
	cancel context.CancelFunc

	listed   chan struct{} // closed at the first listing of every device, healthy
	listedAt time.Time
	listing  []*v1beta1.Device

	ended    chan struct{} // closed when ListAndWatch ends
	endedErr error
}

// connect dials as the kubelet does (blocking, 10 s) and asks for the options.
func connect(socket string, devices int) (*pluginConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, socket, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", socket, err)
	}
	client := v1beta1.NewDevicePluginClient(conn)
	options, err := client.GetDevicePluginOptions(ctx, &v1beta1.Empty{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("GetDevicePluginOptions: %w", err)
	}
	streamCtx, streamCancel := context.WithCancel(context.Background())
	return &pluginConn{conn: conn, client: client, options: options, devices: devices, ctx: streamCtx, cancel: streamCancel,
		listed: make(chan struct{}), ended: make(chan struct{})}, nil
}

func (p *pluginConn) listAndWatch() {
	defer close(p.ended)
	stream, err := p.client.ListAndWatch(p.ctx, &v1beta1.Empty{})
	if err != nil {
		p.endedErr = err
		return
	}
	for {
		r, err := stream.Recv()
		if err != nil {
			p.endedErr = err
			return
		}
		now := time.Now()
		if p.listing == nil && complete(r.Devices, p.devices) {
			p.listedAt = now
			p.listing = r.Devices
			close(p.listed)
		}
	}
}

func complete(devices []*v1beta1.Device, want int) bool {
	if len(devices) != want {
		return false
	}
	for _, d := range devices {
		if d.Health != "Healthy" {
			return false
		}
	}
	return true
}

// streamOpen says whether ListAndWatch is still open, and why not.
func (p *pluginConn) streamOpen() error {
	select {
	case <-p.ended:
		if p.endedErr == nil {
			return errors.New("ListAndWatch ended")
		}
		return fmt.Errorf("ListAndWatch ended: %v", p.endedErr)
	default:
		return nil
	}
}

func (p *pluginConn) close() {
	p.cancel()
	p.conn.Close()
}
