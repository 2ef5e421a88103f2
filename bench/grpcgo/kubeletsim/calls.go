package main

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"metagpubench/deviceplugin/v1beta1"
	"metagpubench/metaid"
)

// loop is one measured kind of call: warm-up calls, then c1 calls one at a
// time, then cN calls with -concurrency in flight, on the kubelet's connection.
type loop struct {
	name           string
	warmup, c1, cN int
}

// onlyLoops, from -only, names the loops to run (comma-separated); empty runs
// them all. Measuring one change to one call is quicker and steadier with the
// other loops left out.
var onlyLoops string

// splitCalls shares total calls out as the default 13,000 are: Allocate
// 5,000 (500 warm-up, 2,250 at concurrency 1, 2,250 at -concurrency), Allocate
// of new sets 500 (no warm-up, 250, 250), GetDevicePluginOptions 5,500 (500,
// 2,500, 2,500), GetPreferredAllocation 2,000 (200, 900, 900).
func splitCalls(total, concurrency int) []loop {
	base := []loop{{"allocate", 500, 2250, 2250}, {"allocate_new", 0, 250, 250}, {"options", 500, 2500, 2500}, {"preferred", 200, 900, 900}}
	scale := func(n int) int {
		if n == 0 {
			return 0
		}
		v := int(float64(n)*float64(total)/13000 + 0.5)
		if v < concurrency {
			v = concurrency
		}
		return v
	}
	for i := range base {
		base[i].warmup, base[i].c1, base[i].cN = scale(base[i].warmup), scale(base[i].c1), scale(base[i].cN)
	}
	if onlyLoops == "" {
		return base
	}
	var kept []loop
	for _, l := range base {
		for _, name := range strings.Split(onlyLoops, ",") {
			if strings.TrimSpace(name) == l.name {
				kept = append(kept, l)
			}
		}
	}
	return kept
}

func (l loop) total() int { return l.warmup + l.c1 + l.cN }

// caller makes the kubelet's requests against one registered plugin.
type caller struct {
	client        v1beta1.DevicePluginClient
	byGPU         [][]string // IDs of each GPU, by share index
	uuids         []string
	request       int
	preferred     *v1beta1.PreferredAllocationRequest
	preferredSize int
	available     map[string]bool
	next          map[string]*int64 // per kind, so that consecutive calls ask for different IDs
	mu            sync.Mutex
	first         map[string][2]message // per kind, the first call's request and answer (for codecTime)
}

// message is what gogo protobuf generates for every message.
type message interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
	Reset()
}

// keep remembers the first call of each kind, its request and its answer: once, not on every measured call.
func (c *caller) keep(kind string, i int, request, answer message) {
	if i != 0 {
		return
	}
	c.mu.Lock()
	c.first[kind] = [2]message{request, answer}
	c.mu.Unlock()
}

// codecTime is the median time this client spends encoding the first request of the kind and decoding its answer,
// the protobuf work alone, outside gRPC and HTTP/2: a floor under any plugin's latency, the same for every plugin.
func (c *caller) codecTime(kind string, n int) (time.Duration, error) {
	c.mu.Lock()
	pair, ok := c.first[kind]
	c.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("no %s call made", kind)
	}
	request, answer := pair[0], pair[1]
	encoded, err := answer.Marshal()
	if err != nil {
		return 0, err
	}
	times := make([]time.Duration, n)
	for i := range times {
		t := time.Now()
		if _, err := request.Marshal(); err != nil {
			return 0, err
		}
		answer.Reset() // decoded as into a new message
		if err := answer.Unmarshal(encoded); err != nil {
			return 0, err
		}
		times[i] = time.Since(t)
	}
	sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
	return times[n/2], nil
}

// newCaller groups the listed IDs by GPU (from the IDs themselves: both plugins
// use MetaGPU's format) and checks the shape the requests need.
func newCaller(p *pluginConn, gpus, perGPU, request, preferredSize int) (*caller, error) {
	if !p.options.GetPreferredAllocationAvailable {
		return nil, fmt.Errorf("the plugin's options do not offer GetPreferredAllocation")
	}
	c := &caller{client: p.client, byGPU: make([][]string, gpus), uuids: make([]string, gpus), request: request,
		preferredSize: preferredSize, available: map[string]bool{}, next: map[string]*int64{}, first: map[string][2]message{}}
	for i := range c.byGPU {
		c.byGPU[i] = make([]string, perGPU)
	}
	all := make([]string, 0, len(p.listing))
	for _, d := range p.listing {
		gpu, share, uuid, ok := metaid.Parse(d.ID)
		if !ok || gpu >= gpus || share >= perGPU || c.byGPU[gpu][share] != "" || (c.uuids[gpu] != "" && c.uuids[gpu] != uuid) {
			return nil, fmt.Errorf("device %q does not fit %d GPUs x %d meta-devices", d.ID, gpus, perGPU)
		}
		c.byGPU[gpu][share] = d.ID
		c.uuids[gpu] = uuid
		c.available[d.ID] = true
		all = append(all, d.ID)
	}
	if request > perGPU || preferredSize > len(all) {
		return nil, fmt.Errorf("requests of %d and %d do not fit %d GPUs x %d", request, preferredSize, gpus, perGPU)
	}
	c.preferred = &v1beta1.PreferredAllocationRequest{ContainerRequests: []*v1beta1.ContainerPreferredAllocationRequest{
		{AvailableDeviceIDs: all, AllocationSize: int32(preferredSize)}}}
	for _, name := range []string{"allocate", "allocate_new", "options", "preferred"} {
		c.next[name] = new(int64)
	}
	return c, nil
}

// call makes one call of the kind and returns its latency; the request is made
// before and the answer checked after the clock.
func (c *caller) call(kind string) (time.Duration, error) {
	i := int(atomic.AddInt64(c.next[kind], 1) - 1)
	ctx := context.Background()
	switch kind {
	case "allocate", "allocate_new":
		// Request i: meta-devices on GPU i mod N. "allocate": a run of consecutive
		// shares, a different run each round (the runs recur, as sets do when pods
		// come and go); "allocate_new": a random set, never asked before in the launch.
		gpu := i % len(c.byGPU)
		shares := c.byGPU[gpu]
		ids := make([]string, c.request)
		if kind == "allocate" {
			start := (i / len(c.byGPU) * c.request) % len(shares)
			for k := range ids {
				ids[k] = shares[(start+k)%len(shares)]
			}
		} else {
			for k, s := range rand.New(rand.NewSource(int64(i))).Perm(len(shares))[:c.request] {
				ids[k] = shares[s]
			}
		}
		r := &v1beta1.AllocateRequest{ContainerRequests: []*v1beta1.ContainerAllocateRequest{{DevicesIds: ids}}}
		t := time.Now()
		a, err := c.client.Allocate(ctx, r)
		d := time.Since(t)
		if err != nil {
			return d, fmt.Errorf("Allocate: %w", err)
		}
		if len(a.ContainerResponses) != 1 || a.ContainerResponses[0].Envs["NVIDIA_VISIBLE_DEVICES"] != c.uuids[gpu] {
			return d, fmt.Errorf("Allocate of %d IDs on GPU %d: answer %v does not give NVIDIA_VISIBLE_DEVICES=%s", len(ids), gpu, a, c.uuids[gpu])
		}
		c.keep(kind, i, r, a)
		return d, nil
	case "options":
		t := time.Now()
		o, err := c.client.GetDevicePluginOptions(ctx, &v1beta1.Empty{})
		d := time.Since(t)
		if err != nil {
			return d, fmt.Errorf("GetDevicePluginOptions: %w", err)
		}
		if !o.GetPreferredAllocationAvailable {
			return d, fmt.Errorf("GetDevicePluginOptions: GetPreferredAllocation no longer offered")
		}
		c.keep(kind, i, &v1beta1.Empty{}, o)
		return d, nil
	default:
		t := time.Now()
		a, err := c.client.GetPreferredAllocation(ctx, c.preferred)
		d := time.Since(t)
		if err != nil {
			return d, fmt.Errorf("GetPreferredAllocation: %w", err)
		}
		if len(a.ContainerResponses) != 1 {
			return d, fmt.Errorf("GetPreferredAllocation: %d container answers", len(a.ContainerResponses))
		}
		ids := a.ContainerResponses[0].DeviceIDs
		seen := make(map[string]bool, len(ids))
		for _, id := range ids {
			if !c.available[id] || seen[id] {
				return d, fmt.Errorf("GetPreferredAllocation: %q is not available or given twice", id)
			}
			seen[id] = true
		}
		if len(ids) != c.preferredSize {
			return d, fmt.Errorf("GetPreferredAllocation: %d IDs for a size of %d", len(ids), c.preferredSize)
		}
		c.keep(kind, i, c.preferred, a)
		return d, nil
	}
}

// run makes n calls of the kind, concurrency of them in flight, and returns
// their latencies; it stops at the first failure.
func (c *caller) run(kind string, n, concurrency int) ([]time.Duration, error) {
	latencies := make([]time.Duration, n)
	var next int64 = -1
	var stopped int32
	var mu sync.Mutex
	var failure error
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= int64(n) || atomic.LoadInt32(&stopped) != 0 {
					return
				}
				d, err := c.call(kind)
				if err != nil {
					mu.Lock()
					if failure == nil {
						failure = err
					}
					mu.Unlock()
					atomic.StoreInt32(&stopped, 1)
					return
				}
				latencies[i] = d
			}
		}()
	}
	wg.Wait()
	if failure != nil {
		return nil, failure
	}
	return latencies, nil
}

// summary is p50, p99 and mean of a set of latencies in µs.
type summary struct{ p50, p99, mean float64 }

func summarize(latencies []time.Duration) summary {
	sorted := append([]time.Duration(nil), latencies...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return summary{p50: us(percentile(sorted, 0.50)), p99: us(percentile(sorted, 0.99)), mean: us(sum) / float64(len(sorted))}
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(float64(len(sorted))*p)) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}
