// Command kubeletsim drives device plugins as the kubelet does, with grpc-go
// (the kubelet's own gRPC library): it serves Registration on kubelet.sock,
// dials each plugin back inside Register, keeps ListAndWatch open, and makes
// the kubelet's calls on that one connection. It launches each plugin itself,
// in fresh folders each time, and measures start-up, memory, call latency and
// re-registration after kubelet restarts. See bench/README.md.
//
//	kubeletsim [flags] -- NAME COMMAND [ARG...] [-- NAME COMMAND [ARG...]]...
//	kubeletsim -hold [flags] -- NAME COMMAND [ARG...]
//
// In a plugin's command line {dir} is the fresh plugin directory, {scratch} a
// fresh folder beside it, {port} a free loopback port and {pod-resources} the
// pod-resources socket this kubelet serves (with no pods).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// settings are the flags.
type settings struct {
	launches, calls, restarts, concurrency int
	restartGap, phaseTimeout               time.Duration
	resource                               string
	gpus, perGPU, request, preferredSize   int
	podResources                           bool
	logDir                                 string
}

const driver = "grpc-go"

func main() {
	var set settings
	flag.IntVar(&set.launches, "launches", 5, "launches of each plugin, alternating between plugins")
	flag.IntVar(&set.calls, "calls", 13000, "calls per launch, warm-up included (split as in bench/README.md)")
	flag.IntVar(&set.restarts, "restarts", 20, "kubelet restarts per plugin, spread over its launches")
	flag.IntVar(&set.concurrency, "concurrency", 8, "calls in flight in the concurrent loops")
	flag.DurationVar(&set.restartGap, "restart-gap", 100*time.Millisecond, "how long a restarted kubelet is away (sockets deleted, nothing listening)")
	flag.DurationVar(&set.phaseTimeout, "phase-timeout", 60*time.Second, "longest start-up, call phase or restart; past it the plugin is killed and the run fails")
	flag.StringVar(&set.resource, "resource", "cnvrg.io/metagpu", "the resource the plugins register")
	flag.IntVar(&set.gpus, "gpus", 8, "GPUs behind the resource")
	flag.IntVar(&set.perGPU, "meta-gpus", 100, "meta-devices per GPU")
	flag.IntVar(&set.request, "request", 30, "meta-devices per Allocate (all on one GPU)")
	flag.IntVar(&set.preferredSize, "preferred-size", 400, "allocation size of GetPreferredAllocation (of every device available)")
	flag.BoolVar(&set.podResources, "pod-resources", true, "serve pod-resources (an empty List) at {pod-resources}")
	flag.StringVar(&set.logDir, "logs", "", "keep each launch's plugin output in this folder, as NAME-LAUNCH.log")
	flag.StringVar(&onlyLoops, "only", "", "run only these call loops (comma-separated: allocate, allocate_new, options, preferred)")
	hold := flag.Bool("hold", false, "launch one plugin once, print a READY line once it listed its devices, and keep it until standard input ends")
	flag.Parse()
	if set.logDir != "" {
		if err := os.MkdirAll(set.logDir, 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "kubeletsim: -logs: %v\n", err)
			os.Exit(2)
		}
	}

	if onlyLoops != "" && len(splitCalls(set.calls, set.concurrency)) == 0 {
		fmt.Fprintf(os.Stderr, "kubeletsim: -only %q names no loop (allocate, allocate_new, options, preferred)\n", onlyLoops)
		os.Exit(2)
	}
	specs, err := parseSpecs(flag.Args())
	if err == nil && *hold && len(specs) != 1 {
		err = fmt.Errorf("-hold takes exactly one plugin")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubeletsim: %v\nusage: kubeletsim [flags] -- NAME COMMAND [ARG...] [-- NAME COMMAND [ARG...]]...\n", err)
		flag.PrintDefaults()
		os.Exit(2)
	}
	stopOnSignal()
	if *hold {
		os.Exit(holdOne(specs[0], set))
	}
	os.Exit(runAll(specs, set))
}

func parseSpecs(args []string) ([]spec, error) {
	var specs []spec
	var current []string
	flush := func() error {
		if len(current) < 2 {
			return fmt.Errorf("each plugin is NAME COMMAND [ARG...]")
		}
		specs = append(specs, spec{name: current[0], argv: current[1:]})
		current = nil
		return nil
	}
	for _, a := range args {
		if a == "--" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		current = append(current, a)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, s := range specs {
		if seen[s.name] {
			return nil, fmt.Errorf("two plugins named %s", s.name)
		}
		seen[s.name] = true
	}
	return specs, nil
}

// runAll measures every plugin -launches times, alternating (the order flips
// each round so that neither always goes first), then prints the figures.
func runAll(specs []spec, set settings) int {
	fmt.Printf("kubeletsim (%s): %d launches each, %d calls per launch, %d kubelet restarts each, %d GPUs x %d, %d in flight\n",
		driver, set.launches, set.calls, set.restarts, set.gpus, set.perGPU, set.concurrency)
	for _, l := range splitCalls(set.calls, set.concurrency) {
		fmt.Printf("  %-12s %5d warm-up, %5d at concurrency 1, %5d at concurrency %d\n", l.name, l.warmup, l.c1, l.cN, set.concurrency)
	}
	results := map[string][]*launchResult{}
	failed := false
	for round := 0; round < set.launches; round++ {
		restarts := set.restarts / set.launches
		if round < set.restarts%set.launches {
			restarts++
		}
		for i := range specs {
			s := specs[i]
			if round%2 == 1 {
				s = specs[len(specs)-1-i]
			}
			r, err := measure(s, set, round+1, restarts)
			if err != nil {
				fmt.Printf("FAILED %s launch %d: %v\n", s.name, round+1, err)
				failed = true
				continue
			}
			results[s.name] = append(results[s.name], r)
			fmt.Printf("%s launch %d: listed in %.1f ms; RSS %d KiB registered, %d after calls, %d idle; %d restarts, re-registered in %s; stopped in %.0f ms%s\n",
				s.name, round+1, ms(r.listed), r.rssRegistered, r.rssAfterCalls, r.rssAfterIdle, len(r.reregister), msList(r.reregister), ms(r.stop), stopNote(r))
			if r.extraRegistrations > 0 {
				fmt.Printf("  note: %s registered %d more time(s) than the kubelet restarted\n", s.name, r.extraRegistrations)
			}
		}
	}
	report(specs, results, set)
	if failed {
		return 1
	}
	return 0
}

func stopNote(r *launchResult) string {
	if r.stoppedByItself {
		return ""
	}
	return " (killed: SIGTERM did not stop it within 5 s)"
}

// holdOne launches one plugin for another driver (MetaGpu.Bench's Grpc.Net.Client loops).
func holdOne(s spec, set settings) int {
	sess, err := start(s, set, 1, set.phaseTimeout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubeletsim: %s: %v\n", s.name, err)
		return 1
	}
	defer sess.close()
	ready, _ := json.Marshal(map[string]interface{}{
		"pid":                 sess.cmd.Process.Pid,
		"socket":              sess.dir + "/" + sess.plugin.endpoint,
		"launch_to_listed_ms": round2(ms(sess.plugin.listedAt.Sub(sess.started))),
	})
	fmt.Printf("READY %s\n", ready)
	io.Copy(io.Discard, os.Stdin)
	if err := sess.plugin.streamOpen(); err != nil {
		fmt.Fprintf(os.Stderr, "kubeletsim: %s: %v\n", s.name, err)
		return 1
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
