package main

import (
	"fmt"

	"metagpubench/metaid"
)

// gpu is one fake GPU and its meta-devices.
type gpu struct {
	index int
	uuid  string
	numa  int64
	ids   []string
}

// fakeGPUs makes n GPUs of perGPU meta-devices each, with UUIDs in NVML's form
// (GPU-8-4-4-4-12 hex) and the first half on NUMA node 0, the rest on node 1.
func fakeGPUs(n, perGPU int) []*gpu {
	out := make([]*gpu, n)
	for i := range out {
		g := &gpu{index: i, uuid: fmt.Sprintf("GPU-%08x-0000-4000-8000-%012x", 0x5eed0000+i, i)}
		if n > 1 && i >= (n+1)/2 {
			g.numa = 1
		}
		for s := 0; s < perGPU; s++ {
			g.ids = append(g.ids, metaid.Format(i, s, g.uuid))
		}
		out[i] = g
	}
	return out
}
