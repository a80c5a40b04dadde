package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/indexers"
)

// Config is what the web interface reads and how it is bounded.
type Config struct {
	Chain   Chain   // required
	Mempool Mempool // required
	RPC     Caller  // required: Core's JSON shapes
	// TxIndex and AddrIndex are the chain's indexes; nil is an index that
	// is off, and the pages that need it say so.
	TxIndex   TxIndex
	AddrIndex AddrIndex
	// Network lists peers and bans; nil shows none.
	Network Network
	Logger  *slog.Logger

	// RequestTimeout bounds every request but the event stream; 0 means 10 s.
	RequestTimeout time.Duration
	// EventBuffer is how many events an /events client may fall behind by
	// before it is dropped; 0 means 512.
	EventBuffer int
	// MaxEventClients bounds the open /events streams; 0 means 1000.
	MaxEventClients int
	// MaxEventClientsPerAddress bounds the open /events streams from one
	// remote address (a browser holds one per tab); 0 means 32.
	MaxEventClientsPerAddress int
	// MaxRequests bounds the requests but event streams worked on at once;
	// more wait for a turn until their deadline. 0 means 4 per CPU.
	MaxRequests int
	// MaxAddressTxs bounds the transactions of an address the explorer
	// lists, as electrs' txid limit does: an address's page reads its whole
	// history, and a visitor may ask for one with millions. A longer
	// history is refused, pointing to the RPC. 0 means 100,000.
	MaxAddressTxs int
}

// Server serves the explorer, REST and the event stream.
type Server struct {
	cfg     Config
	params  *chain.Params
	log     *slog.Logger
	events  *eventHub
	cache   *cache
	handler http.Handler

	httpSrv *http.Server
	addr    net.Addr
	// cancel stops the hub's goroutine; wg waits for it and the HTTP server.
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks cfg, builds the handlers and starts the event hub; Start serves
// them, and Stop ends both.
func New(cfg Config) (*Server, error) {
	if cfg.Chain == nil || cfg.Mempool == nil || cfg.RPC == nil {
		return nil, errors.New("web: Chain, Mempool and RPC are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// A nil *indexers.TxIndex or *AddrIndex answers as an index turned off,
	// so the pages need no nil checks of their own.
	if cfg.TxIndex == nil {
		cfg.TxIndex = (*indexers.TxIndex)(nil)
	}
	if cfg.AddrIndex == nil {
		cfg.AddrIndex = (*indexers.AddrIndex)(nil)
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.EventBuffer == 0 {
		cfg.EventBuffer = 512
	}
	if cfg.MaxEventClients == 0 {
		cfg.MaxEventClients = 1000
	}
	if cfg.MaxEventClientsPerAddress == 0 {
		cfg.MaxEventClientsPerAddress = 32
	}
	if cfg.MaxAddressTxs == 0 {
		cfg.MaxAddressTxs = 100_000
	}
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = 4 * runtime.NumCPU()
	}
	s := &Server{
		cfg:    cfg,
		params: cfg.Chain.Params(),
		log:    cfg.Logger,
		events: newEventHub(cfg.EventBuffer, cfg.MaxEventClients, cfg.MaxEventClientsPerAddress),
		cache:  newCache(),
	}
	pages, err := newPages()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	// Every request but the event stream has a deadline and waits for one of
	// MaxRequests turns, so a crowd of heavy requests (big blocks, big
	// addresses) queues instead of taking all memory and CPU.
	turns := make(chan struct{}, cfg.MaxRequests)
	bounded := func(h http.HandlerFunc) http.Handler {
		return http.TimeoutHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case turns <- struct{}{}:
				defer func() { <-turns }()
				h(w, r)
			case <-r.Context().Done():
			}
		}), cfg.RequestTimeout, "request took too long\r\n")
	}
	mux.Handle("GET /rest/", bounded(s.serveREST))
	mux.HandleFunc("GET /events", s.serveEvents)
	mux.Handle("GET /static/", staticHandler())
	s.routePages(mux, pages, bounded)
	s.handler = securityHeaders(mux)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Go(func() { s.events.run(ctx) })
	return s, nil
}

// Handler is the whole web interface, for tests and for serving elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// contentSecurityPolicy lets pages use only what this server sends: no
// inline script or style, nothing from elsewhere, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// Start listens on addr (an empty host meaning 127.0.0.1) and serves until
// Stop.
func (s *Server) Start(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("web listen address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("web listener: %w", err)
	}
	s.addr = ln.Addr()
	s.httpSrv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		// A response must be written within the time its handler had again:
		// a client that stops reading cannot keep a goroutine and a
		// rendered page waiting on its socket. The event stream sets its
		// own deadline before each write.
		WriteTimeout:   2 * s.cfg.RequestTimeout,
		IdleTimeout:    60 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.wg.Go(func() {
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("web server", "err", err)
		}
	})
	return nil
}

// Addr is the address Start listens on.
func (s *Server) Addr() net.Addr { return s.addr }

// Stop ends the event streams and the hub, then waits for the other
// requests to finish until ctx ends, and closes what is left.
func (s *Server) Stop(ctx context.Context) error {
	s.events.close()
	s.cancel()
	var err error
	if s.httpSrv != nil {
		if err = s.httpSrv.Shutdown(ctx); err != nil {
			s.httpSrv.Close()
		}
	}
	s.wg.Wait()
	return err
}
