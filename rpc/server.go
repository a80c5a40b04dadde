package rpc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for Config fields left zero.
const (
	// DefaultMaxBodyBytes bounds a request body. submitblock and
	// sendrawtransaction carry hex of up to a few megabytes; 32 MiB is Core's limit.
	DefaultMaxBodyBytes = 32 << 20
	// DefaultMaxInFlight bounds the requests being served at once; past it the
	// server answers 503, as Core does past its work queue depth.
	DefaultMaxInFlight = 64
)

const (
	readHeaderTimeout = 10 * time.Second
	// readTimeout covers the whole request, up to MaxBodyBytes over a slow link.
	readTimeout = 2 * time.Minute
	// There is no write timeout: it would cut off long calls (generatetoaddress,
	// a verbose getblock); handlers are bounded by their context instead.
	idleTimeout    = 2 * time.Minute
	maxHeaderBytes = 64 << 10
	// authFailDelay slows down password guessing, as Core's 250 ms pause does.
	authFailDelay = 250 * time.Millisecond
)

// Config configures a Server.
type Config struct {
	// Addr is the host:port to listen on. An empty host means 127.0.0.1, not every
	// interface: RPC gives control of the node and must not be exposed by accident.
	Addr string
	// CookiePath, if set, is where Start writes a fresh cookie credential
	// ("__cookie__:<64 hex digits>", mode 0600) and Stop removes it, e.g.
	// <datadir>/<network>/.cookie.
	CookiePath string
	// User and Password, if set, are accepted as well as the cookie. At least one
	// of CookiePath and User/Password must be set.
	User, Password string
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxInFlight bounds the requests served at once; 0 means DefaultMaxInFlight.
	MaxInFlight int
	// Metrics, if not nil, receives the server's counters:
	// quarry_rpc_calls_total{method}, quarry_rpc_errors_total{method,code} and
	// quarry_rpc_rejected_total{reason} (unauthorized, busy, too_large). Calls of
	// unregistered methods count as method "unknown", unparsable requests as
	// "invalid".
	Metrics prometheus.Registerer
	// Logger receives the server's log; nil means slog.Default().
	Logger *slog.Logger
}

// Server serves a Registry's methods over HTTP. Start it once and Stop it once.
type Server struct {
	reg     *Registry
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	slots   chan struct{} // one token per request being served
	creds   []credential  // fixed before serving starts, read-only after

	mu      sync.Mutex
	started bool
	stopped bool
	addr    net.Addr
	http    *http.Server
	cancel  context.CancelFunc // cancels the contexts of running handlers
	served  chan struct{}      // closed when the Serve goroutine has returned
}

// credential is the SHA-256 of "user:password". Comparing digests keeps the
// comparison constant-time even in the length of what the caller sent.
type credential [sha256.Size]byte

func newCredential(user, password string) credential {
	return sha256.Sum256([]byte(user + ":" + password))
}

// NewServer checks cfg and returns a server for reg's methods; nothing listens
// until Start.
func NewServer(reg *Registry, cfg Config) (*Server, error) {
	if cfg.CookiePath == "" && cfg.User == "" && cfg.Password == "" {
		return nil, errors.New("rpc: no credentials: set a cookie path or a user and password")
	}
	if strings.Contains(cfg.User, ":") {
		return nil, errors.New("rpc: the RPC user name must not contain ':'")
	}
	if (cfg.User == "") != (cfg.Password == "") {
		return nil, errors.New("rpc: set both the RPC user and the RPC password, or neither")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	s := &Server{
		reg:   reg,
		cfg:   cfg,
		log:   cfg.Logger,
		slots: make(chan struct{}, cfg.MaxInFlight),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if cfg.User != "" {
		s.creds = append(s.creds, newCredential(cfg.User, cfg.Password))
	}
	if cfg.Metrics != nil {
		m, err := newMetrics(cfg.Metrics)
		if err != nil {
			return nil, err
		}
		s.metrics = m
	}
	return s, nil
}

// Start listens on the configured address, writes the cookie file and serves in
// the background until Stop. ctx bounds the start only; its values reach handlers.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("rpc: server already started (a server starts only once)")
	}
	host, port, err := net.SplitHostPort(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("rpc: listen address: %w", err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, port)
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("rpc: listen: %w", err)
	}
	if s.cfg.CookiePath != "" {
		password, err := writeCookie(s.cfg.CookiePath)
		if err != nil {
			ln.Close()
			return err
		}
		s.creds = append(s.creds, newCredential(cookieUser, password))
	}
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.cancel = cancel
	s.addr = ln.Addr()
	s.served = make(chan struct{})
	s.started = true
	go func() {
		defer close(s.served)
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("RPC server stopped serving", "error", err)
		}
	}()
	s.log.Info("RPC server listening", "addr", s.addr.String())
	return nil
}

// Addr returns the address the server listens on (useful with port 0), or nil
// before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stop stops listening, lets running calls finish until ctx is done, then cancels
// their contexts, closes their connections and waits for the cancelled calls to
// return (cancelledCallsGrace at most), and removes the cookie file. It
// must not be called from a handler (which it would wait for): the stop method
// should signal the node's main loop instead. Stopping twice, or a server never
// started, does nothing.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopped {
		return nil
	}
	s.stopped = true
	var errs []error
	// Shutdown stops taking requests and waits for every connection to go
	// idle, but holds one that has not sent a request yet as busy for five
	// seconds, and Go's HTTP clients open such spare connections under load.
	// So Stop waits for the calls themselves, then closes what is left.
	shutdown := make(chan error, 1)
	go func() { shutdown <- s.http.Shutdown(ctx) }()
	err := s.waitCalls(ctx)
	s.cancel()
	s.http.Close()
	<-shutdown
	if err != nil {
		errs = append(errs, fmt.Errorf("rpc: calls still running at stop: %w", err))
		// The cancelled calls end within milliseconds, but end they must
		// before Stop returns: the node closes what they use (the chain, the
		// mempool) next. One that ignores its context is not waited for long.
		grace, cancel := context.WithTimeout(context.Background(), cancelledCallsGrace)
		defer cancel()
		if s.waitCalls(grace) != nil {
			errs = append(errs, fmt.Errorf("rpc: calls still running %v after being cancelled", cancelledCallsGrace))
		}
	}
	<-s.served
	if s.cfg.CookiePath != "" {
		if err := removeCookie(s.cfg.CookiePath); err != nil {
			errs = append(errs, err)
		}
	}
	s.log.Info("RPC server stopped")
	return errors.Join(errs...)
}

// waitCalls returns once no call holds a slot, or with ctx's error.
// cancelledCallsGrace is how long Stop waits for the calls it cancelled.
const cancelledCallsGrace = 5 * time.Second

func (s *Server) waitCalls(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(s.slots) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "JSONRPC server handles only POST requests", http.StatusMethodNotAllowed)
		return
	}
	// Credentials are checked before a slot is taken, so that unauthenticated
	// requests (each held back by the failure delay) cannot crowd out real ones.
	if !s.authorized(r) {
		s.metrics.reject("unauthorized")
		if r.Header.Get("Authorization") != "" {
			s.log.Warn("RPC request with wrong credentials", "remote", r.RemoteAddr)
			t := time.NewTimer(authFailDelay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
			}
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
		http.Error(w, "Authorization required", http.StatusUnauthorized)
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() {
			// The reply leaves before the slot is given back: Stop waits for
			// the slots, then closes every connection.
			_ = http.NewResponseController(w).Flush()
			<-s.slots
		}()
	default:
		s.metrics.reject("busy")
		http.Error(w, "Work queue depth exceeded", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.metrics.reject("too_large")
			http.Error(w, fmt.Sprintf("Request body larger than %d bytes", tooLarge.Limit),
				http.StatusRequestEntityTooLarge)
			return
		}
		s.log.Debug("RPC request body unreadable", "remote", r.RemoteAddr, "error", err)
		http.Error(w, "Cannot read request body", http.StatusBadRequest)
		return
	}
	status, reply := s.process(r.Context(), body)
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if _, err := w.Write(reply); err != nil {
		s.log.Debug("RPC reply not delivered", "remote", r.RemoteAddr, "error", err)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	user, password, ok := r.BasicAuth()
	if !ok {
		return false
	}
	got := newCredential(user, password)
	match := 0
	for _, c := range s.creds {
		match |= subtle.ConstantTimeCompare(got[:], c[:])
	}
	return match == 1
}
