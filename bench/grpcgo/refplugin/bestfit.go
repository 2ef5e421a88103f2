package main

import (
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// bestFit picks size IDs: the must-include ones, then the rest from the GPU
// with the fewest free meta-devices that still holds them all; when no single
// GPU does, from the fullest GPUs first. IDs keep the order the kubelet sent.
func (p *plugin) bestFit(available, mustInclude []string, size int) ([]string, error) {
	chosen := make([]string, 0, size)
	taken := map[string]bool{}
	for _, id := range mustInclude {
		if _, ok := p.gpuOf(id); !ok {
			return nil, status.Errorf(codes.InvalidArgument, "unknown device %q", id)
		}
		if !taken[id] {
			taken[id] = true
			chosen = append(chosen, id)
		}
	}
	free := map[*gpu][]string{}
	for _, id := range available {
		g, ok := p.gpuOf(id)
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "unknown device %q", id)
		}
		if !taken[id] {
			free[g] = append(free[g], id)
		}
	}
	need := size - len(chosen)
	if need <= 0 {
		return chosen[:size], nil
	}

	candidates := make([]*gpu, 0, len(free))
	for g := range free {
		candidates = append(candidates, g)
	}
	// Fewest free first; the index breaks ties so that answers are repeatable.
	sort.Slice(candidates, func(i, j int) bool {
		a, b := len(free[candidates[i]]), len(free[candidates[j]])
		if a != b {
			return a < b
		}
		return candidates[i].index < candidates[j].index
	})
	for _, g := range candidates {
		if len(free[g]) >= need {
			return append(chosen, free[g][:need]...), nil
		}
	}
	// Spread over several GPUs: the fullest first, so as few as possible.
	for i := len(candidates) - 1; i >= 0 && need > 0; i-- {
		ids := free[candidates[i]]
		if len(ids) > need {
			ids = ids[:need]
		}
		chosen = append(chosen, ids...)
		need -= len(ids)
	}
	return chosen, nil
}
