package ctl

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// Outcomes records how the last run of each named step of a ctl file went
// (a checkpoint, a backup), for status files, and publishes each outcome as
// an event "TOPIC NAME ok|failed" (underscores in NAME as dashes).
type Outcomes struct {
	topic string
	ev    *kernel.Events

	mu   sync.Mutex        // guards last
	last map[string]string // name -> "ok|failed TIME SECONDS"
}

// NewOutcomes records outcomes under topic, published on ev.
func NewOutcomes(ev *kernel.Events, topic string) *Outcomes {
	return &Outcomes{topic: topic, ev: ev, last: map[string]string{}}
}

// Run makes fn a Command's Run whose outcome is recorded as name.
func (o *Outcomes) Run(name string, fn func(context.Context) error) func(context.Context, []string) error {
	return func(ctx context.Context, _ []string) error {
		start := time.Now()
		err := fn(ctx)
		result := "ok"
		if err != nil {
			result = "failed"
		}
		o.mu.Lock()
		o.last[name] = fmt.Sprintf("%s %s %.3fs", result, start.UTC().Format(time.RFC3339), time.Since(start).Seconds())
		o.mu.Unlock()
		o.ev.Publish(o.topic, strings.ReplaceAll(name, "_", "-"), result)
		return err
	}
}

// Lines renders "last_NAME OUTCOME" for each name, "-" for a step not run
// yet.
func (o *Outcomes) Lines(names ...string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	for _, n := range names {
		v := o.last[n]
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(&b, "last_%s %s\n", n, v)
	}
	return b.String()
}
