package rpc

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Method labels for calls that have no registered method. Only registered names
// become labels otherwise, so callers cannot blow up the label cardinality.
const (
	methodLabelUnknown = "unknown" // a well-formed call of a method that does not exist
	methodLabelInvalid = "invalid" // a body or request object that does not parse
)

// metrics are the server's Prometheus counters. A nil *metrics counts nothing, so
// the server needs no checks when metrics are off.
type metrics struct {
	calls    *prometheus.CounterVec
	errors   *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

// newMetrics registers, on reg:
//
//	quarry_rpc_calls_total{method}          calls answered, by method
//	quarry_rpc_errors_total{method,code}    calls answered with an error, by method and code
//	quarry_rpc_rejected_total{reason}       HTTP requests turned away: unauthorized, busy, too_large
//
// When the counters are already registered on reg (a second server in the same
// process) it counts on the registered ones.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "quarry", Subsystem: "rpc", Name: "calls_total",
			Help: "JSON-RPC calls answered, by method.",
		}, []string{"method"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "quarry", Subsystem: "rpc", Name: "errors_total",
			Help: "JSON-RPC calls answered with an error, by method and error code.",
		}, []string{"method", "code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "quarry", Subsystem: "rpc", Name: "rejected_total",
			Help: "HTTP requests to the RPC server turned away, by reason (unauthorized, busy, too_large).",
		}, []string{"reason"}),
	}
	for _, c := range []**prometheus.CounterVec{&m.calls, &m.errors, &m.rejected} {
		if err := reg.Register(*c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return nil, fmt.Errorf("rpc: register metrics: %w", err)
			}
			existing, ok := already.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, fmt.Errorf("rpc: register metrics: %w", err)
			}
			*c = existing
		}
	}
	return m, nil
}

func (m *metrics) observe(method string, e *Error) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(method).Inc()
	if e != nil {
		m.errors.WithLabelValues(method, strconv.Itoa(e.Code)).Inc()
	}
}

func (m *metrics) reject(reason string) {
	if m == nil {
		return
	}
	m.rejected.WithLabelValues(reason).Inc()
}
