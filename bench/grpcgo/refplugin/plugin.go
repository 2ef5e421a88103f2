package main

import (
	"context"
	"strings"

	"metagpubench/deviceplugin/v1beta1"
	"metagpubench/metaid"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// plugin answers the kubelet's DevicePlugin calls for one resource.
type plugin struct {
	resource string
	gpus     []*gpu
	byUUID   map[string]*gpu
	devices  *v1beta1.ListAndWatchResponse
}

func newPlugin(resource string, gpus []*gpu) *plugin {
	p := &plugin{resource: resource, gpus: gpus, byUUID: map[string]*gpu{}, devices: &v1beta1.ListAndWatchResponse{}}
	for _, g := range gpus {
		p.byUUID[g.uuid] = g
		topology := &v1beta1.TopologyInfo{Nodes: []*v1beta1.NUMANode{{ID: g.numa}}}
		for _, id := range g.ids {
			p.devices.Devices = append(p.devices.Devices, &v1beta1.Device{ID: id, Health: "Healthy", Topology: topology})
		}
	}
	return p
}

func (p *plugin) options() *v1beta1.DevicePluginOptions {
	return &v1beta1.DevicePluginOptions{GetPreferredAllocationAvailable: true}
}

func (p *plugin) GetDevicePluginOptions(context.Context, *v1beta1.Empty) (*v1beta1.DevicePluginOptions, error) {
	return p.options(), nil
}

// ListAndWatch sends every device once; the fake GPUs never change health, so
// the stream then stays open until the kubelet ends it or the server stops
// (which cancels every call).
func (p *plugin) ListAndWatch(_ *v1beta1.Empty, stream v1beta1.DevicePlugin_ListAndWatchServer) error {
	if err := stream.Send(p.devices); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

// gpuOf parses an ID and finds its GPU by the UUID in it.
func (p *plugin) gpuOf(id string) (*gpu, bool) {
	_, _, uuid, ok := metaid.Parse(id)
	if !ok {
		return nil, false
	}
	g, ok := p.byUUID[uuid]
	return g, ok
}

// Allocate gives each container the GPUs behind its meta-devices.
func (p *plugin) Allocate(_ context.Context, r *v1beta1.AllocateRequest) (*v1beta1.AllocateResponse, error) {
	response := &v1beta1.AllocateResponse{}
	for _, container := range r.ContainerRequests {
		var uuids []string
		seen := map[string]bool{}
		for _, id := range container.DevicesIds {
			g, ok := p.gpuOf(id)
			if !ok {
				return nil, status.Errorf(codes.InvalidArgument, "unknown device %q", id)
			}
			if !seen[g.uuid] {
				seen[g.uuid] = true
				uuids = append(uuids, g.uuid)
			}
		}
		response.ContainerResponses = append(response.ContainerResponses, &v1beta1.ContainerAllocateResponse{
			Envs: map[string]string{"NVIDIA_VISIBLE_DEVICES": strings.Join(uuids, ",")},
		})
	}
	return response, nil
}

func (p *plugin) GetPreferredAllocation(_ context.Context, r *v1beta1.PreferredAllocationRequest) (*v1beta1.PreferredAllocationResponse, error) {
	response := &v1beta1.PreferredAllocationResponse{}
	for _, container := range r.ContainerRequests {
		ids, err := p.bestFit(container.AvailableDeviceIDs, container.MustIncludeDeviceIDs, int(container.AllocationSize))
		if err != nil {
			return nil, err
		}
		response.ContainerResponses = append(response.ContainerResponses, &v1beta1.ContainerPreferredAllocationResponse{DeviceIDs: ids})
	}
	return response, nil
}

func (p *plugin) PreStartContainer(context.Context, *v1beta1.PreStartContainerRequest) (*v1beta1.PreStartContainerResponse, error) {
	return &v1beta1.PreStartContainerResponse{}, nil
}
