package main

import (
	"context"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"metagpubench/deviceplugin/v1beta1"

	"google.golang.org/grpc"
)

const kubeletSocket = "kubelet.sock"

// endpoint is the plugin's gRPC server on its socket and its registration with
// the kubelet; restart makes both anew.
type endpoint struct {
	dir, socket string
	plugin      *plugin
	server      *grpc.Server
}

func (e *endpoint) stop() {
	if e.server == nil {
		return
	}
	e.server.Stop()
	e.server = nil
	os.Remove(filepath.Join(e.dir, e.socket))
}

// restart serves on a fresh socket, then registers: the kubelet dials back
// inside Register, so the server must be listening first.
func (e *endpoint) restart() {
	e.stop()
	path := filepath.Join(e.dir, e.socket)
	os.Remove(path)
	listener, err := net.Listen("unix", path)
	if err != nil {
		log.Printf("listen on %s: %v", path, err)
		return
	}
	e.server = grpc.NewServer()
	v1beta1.RegisterDevicePluginServer(e.server, e.plugin)
	go e.server.Serve(listener)

	if err := e.register(); err != nil {
		// No kubelet yet: the next kubelet.sock to appear brings a new attempt.
		log.Printf("register %s: %v", e.plugin.resource, err)
		return
	}
	log.Printf("registered %s (%d devices) on %s", e.plugin.resource, len(e.plugin.devices.Devices), e.socket)
}

func (e *endpoint) register() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, filepath.Join(e.dir, kubeletSocket), grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}))
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = v1beta1.NewRegistrationClient(conn).Register(ctx, &v1beta1.RegisterRequest{
		Version:      "v1beta1",
		Endpoint:     e.socket,
		ResourceName: e.plugin.resource,
		Options:      e.plugin.options(),
	})
	return err
}
