package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// figure is one BENCH line.
type figure struct {
	Config string  `json:"config"`
	Driver string  `json:"driver"`
	Figure string  `json:"figure"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
}

// figures are one plugin's figures over its launches: medians of the per-launch
// figures, and latency percentiles over every call of every launch.
func figures(s spec, launches []*launchResult, set settings) []figure {
	var out []figure
	add := func(name string, value float64, unit string) {
		out = append(out, figure{s.name, driver, name, round2(value), unit})
	}
	if path, err := exec.LookPath(s.argv[0]); err == nil {
		if info, err := os.Stat(path); err == nil {
			add("binary_bytes", float64(info.Size()), "bytes")
		}
	}
	if len(launches) == 0 {
		return out
	}
	per := func(f func(*launchResult) float64) []float64 {
		v := make([]float64, len(launches))
		for i, r := range launches {
			v[i] = f(r)
		}
		return v
	}
	add("launch_to_listed_ms", median(per(func(r *launchResult) float64 { return ms(r.listed) })), "ms")
	add("rss_registered_kib", median(per(func(r *launchResult) float64 { return float64(r.rssRegistered) })), "KiB")
	add("rss_after_calls_kib", median(per(func(r *launchResult) float64 { return float64(r.rssAfterCalls) })), "KiB")
	add("rss_after_idle_kib", median(per(func(r *launchResult) float64 { return float64(r.rssAfterIdle) })), "KiB")
	add("rss_anon_registered_kib", median(per(func(r *launchResult) float64 { return float64(r.anonRegistered) })), "KiB")
	add("rss_anon_after_calls_kib", median(per(func(r *launchResult) float64 { return float64(r.anonAfterCalls) })), "KiB")
	add("rss_anon_after_idle_kib", median(per(func(r *launchResult) float64 { return float64(r.anonAfterIdle) })), "KiB")
	for _, l := range splitCalls(set.calls, set.concurrency) {
		if l.warmup == 0 {
			continue
		}
		name := l.name
		add(name+"_client_codec", median(per(func(r *launchResult) float64 { return float64(r.codec[name].Nanoseconds()) / 1000 })), "us")
		add(name+"_first_call", median(per(func(r *launchResult) float64 { return float64(r.first[name].Nanoseconds()) / 1000 })), "us")
	}
	for _, l := range splitCalls(set.calls, set.concurrency) {
		for _, c := range []int{1, set.concurrency} {
			key := fmt.Sprintf("%s_c%d", l.name, c)
			var all []time.Duration
			for _, r := range launches {
				all = append(all, r.latencies[key]...)
			}
			if len(all) == 0 {
				continue
			}
			sm := summarize(all)
			add(key+"_p50", sm.p50, "us")
			add(key+"_p99", sm.p99, "us")
			add(key+"_mean", sm.mean, "us")
			var plugin, client time.Duration
			for _, r := range launches {
				plugin += r.pluginCPU[key]
				client += r.clientCPU[key]
			}
			add(key+"_plugin_cpu", float64(plugin.Nanoseconds())/1000/float64(len(all)), "us")
			add(key+"_client_cpu", float64(client.Nanoseconds())/1000/float64(len(all)), "us")
		}
	}
	var reregister, relisted []float64
	for _, r := range launches {
		for i := range r.reregister {
			reregister = append(reregister, ms(r.reregister[i]))
			relisted = append(relisted, ms(r.relisted[i]))
		}
	}
	if len(reregister) > 0 {
		add("reregister_ms_median", median(reregister), "ms")
		add("reregister_ms_max", max(reregister), "ms")
		add("relisted_ms_median", median(relisted), "ms")
	}
	return out
}

// report prints every BENCH line, then a table with one column per plugin and,
// for two or more, the first's figure over the second's.
func report(specs []spec, results map[string][]*launchResult, set settings) {
	byConfig := map[string]map[string]figure{}
	var order []string
	listed := map[string]bool{}
	fmt.Println()
	for _, s := range specs {
		byConfig[s.name] = map[string]figure{}
		for _, f := range figures(s, results[s.name], set) {
			line, _ := json.Marshal(f)
			fmt.Printf("BENCH %s\n", line)
			byConfig[s.name][f.Figure] = f
			if !listed[f.Figure] {
				listed[f.Figure] = true
				order = append(order, f.Figure)
			}
		}
	}
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"figure (" + driver + " driver)"}
	for _, s := range specs {
		header = append(header, s.name)
	}
	if len(specs) > 1 {
		header = append(header, specs[0].name+"/"+specs[1].name)
	}
	fmt.Fprintln(w, strings.Join(header, "\t")+"\t")
	for _, name := range order {
		row := []string{name}
		for _, s := range specs {
			if f, ok := byConfig[s.name][name]; ok {
				row = append(row, fmt.Sprintf("%.2f", f.Value))
			} else {
				row = append(row, "-")
			}
		}
		if len(specs) > 1 {
			a, okA := byConfig[specs[0].name][name]
			b, okB := byConfig[specs[1].name][name]
			if okA && okB && b.Value > 0 {
				row = append(row, fmt.Sprintf("%.2f", a.Value/b.Value))
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(w, strings.Join(row, "\t")+"\t")
	}
	w.Flush()
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func max(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func msList(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = fmt.Sprintf("%.1f", ms(x))
	}
	return strings.Join(parts, ", ") + " ms"
}
