package main

import (
	"fmt"
	"time"
)

// launchResult is what one launch of a plugin measured.
type launchResult struct {
	listed                                     time.Duration
	rssRegistered, rssAfterCalls, rssAfterIdle int64
	// The anonymous part of each (RssAnon): what is not a page of a file the page cache keeps anyway.
	anonRegistered, anonAfterCalls, anonAfterIdle int64
	latencies                                     map[string][]time.Duration // "allocate_c1", "options_c8", ...
	// CPU time spent in each loop by the plugin (every thread) and by this process (the client).
	pluginCPU, clientCPU map[string]time.Duration
	// The client's protobuf work per call of each loop (codecTime).
	codec                map[string]time.Duration
	first                map[string]time.Duration // the first call of each kind after registering
	reregister, relisted []time.Duration
	extraRegistrations   int
	stop                 time.Duration
	stoppedByItself      bool
}

// measure runs one launch: start, listing, memory, the call loops, memory
// again, kubelet restarts, stop.
func measure(s spec, set settings, launch, restarts int) (*launchResult, error) {
	sess, err := start(s, set, launch, set.phaseTimeout)
	if err != nil {
		return nil, err
	}
	r := &launchResult{listed: sess.plugin.listedAt.Sub(sess.started), latencies: map[string][]time.Duration{}, pluginCPU: map[string]time.Duration{}, clientCPU: map[string]time.Duration{}, codec: map[string]time.Duration{}, first: map[string]time.Duration{}}
	if err := r.run(sess, set, restarts); err != nil {
		return nil, sess.fail(err)
	}
	r.stop, r.stoppedByItself = sess.stopPlugin()
	sess.close()
	return r, nil
}

func (r *launchResult) run(sess *session, set settings, restarts int) error {
	var err error
	time.Sleep(time.Second)
	if r.rssRegistered, r.anonRegistered, err = sess.memKiB(); err != nil {
		return err
	}
	c, err := newCaller(sess.plugin, set.gpus, set.perGPU, set.request, set.preferredSize)
	if err != nil {
		return err
	}
	loops := splitCalls(set.calls, set.concurrency)
	err = sess.guard(set.phaseTimeout, func() error {
		for _, l := range loops {
			warm, err := c.run(l.name, l.warmup, 1)
			if err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
			if len(warm) > 0 {
				r.first[l.name] = warm[0]
			}
		}
		for _, concurrency := range []int{1, set.concurrency} {
			for _, l := range loops {
				n := l.c1
				if concurrency != 1 {
					n = l.cN
				}
				pluginBefore, err := sess.cpuTime()
				if err != nil {
					return err
				}
				clientBefore := ownCPUTime()
				latencies, err := c.run(l.name, n, concurrency)
				if err != nil {
					return fmt.Errorf("concurrency %d: %w", concurrency, err)
				}
				clientAfter := ownCPUTime()
				pluginAfter, err := sess.cpuTime()
				if err != nil {
					return err
				}
				key := fmt.Sprintf("%s_c%d", l.name, concurrency)
				r.latencies[key] = latencies
				r.pluginCPU[key], r.clientCPU[key] = pluginAfter-pluginBefore, clientAfter-clientBefore
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if r.rssAfterCalls, r.anonAfterCalls, err = sess.memKiB(); err != nil {
		return err
	}
	// Measured in the idle time, where it disturbs no call.
	for _, l := range loops {
		if r.codec[l.name], err = c.codecTime(l.name, 2000); err != nil {
			return err
		}
	}
	time.Sleep(2 * time.Second)
	if r.rssAfterIdle, r.anonAfterIdle, err = sess.memKiB(); err != nil {
		return err
	}
	if err := sess.plugin.streamOpen(); err != nil {
		return fmt.Errorf("after the calls: %w", err)
	}

	for i := 0; i < restarts; i++ {
		if err := sess.guard(set.phaseTimeout, func() error { return r.restart(sess, set) }); err != nil {
			return fmt.Errorf("kubelet restart %d: %w", i+1, err)
		}
	}
	return nil
}

// restart restarts the kubelet and times the plugin's new Register and listing
// from the moment the new kubelet.sock is listening.
func (r *launchResult) restart(sess *session, set settings) error {
	k := sess.kubelet
	extra, err := k.restart(set.restartGap)
	r.extraRegistrations += extra
	if err != nil {
		return err
	}
	var p *pluginConn
	select {
	case p = <-k.registered:
	case <-sess.exited:
		return fmt.Errorf("the plugin exited (%v)", sess.exitErr)
	}
	select {
	case <-p.listed:
	case <-p.ended:
		return fmt.Errorf("ListAndWatch ended before listing every device: %v", p.endedErr)
	case <-sess.exited:
		return fmt.Errorf("the plugin exited (%v)", sess.exitErr)
	}
	r.reregister = append(r.reregister, p.registeredAt.Sub(k.listenedAt))
	r.relisted = append(r.relisted, p.listedAt.Sub(k.listenedAt))
	sess.plugin = p
	return nil
}
