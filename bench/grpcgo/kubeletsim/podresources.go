package main

import (
	"context"
	"net"
	"os"
	"path/filepath"

	podresources "metagpubench/podresources/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// podResources is the kubelet's pod-resources service on a node with no pods
// holding devices: List answers, with nothing in it.
type podResources struct{}

func (podResources) List(context.Context, *podresources.ListPodResourcesRequest) (*podresources.ListPodResourcesResponse, error) {
	return &podresources.ListPodResourcesResponse{}, nil
}

func (podResources) GetAllocatableResources(context.Context, *podresources.AllocatableResourcesRequest) (*podresources.AllocatableResourcesResponse, error) {
	return &podresources.AllocatableResourcesResponse{}, nil
}

func (podResources) Get(context.Context, *podresources.GetPodResourcesRequest) (*podresources.GetPodResourcesResponse, error) {
	return nil, status.Error(codes.NotFound, "no such pod")
}

// servePodResources listens on socket (its folder made) and returns the server.
func servePodResources(socket string) (*grpc.Server, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o750); err != nil {
		return nil, err
	}
	listener, err := net.Listen("unix", socket)
	if err != nil {
		return nil, err
	}
	server := grpc.NewServer()
	podresources.RegisterPodResourcesListerServer(server, podResources{})
	go server.Serve(listener)
	return server, nil
}
