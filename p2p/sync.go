package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	msmux "github.com/multiformats/go-multistream"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
)

// Sync timing and window.
const (
	// readRequestTimeout bounds how long a server waits for the request,
	// writeTimeout how long it waits to write each message of the answer.
	readRequestTimeout = 10 * time.Second
	writeTimeout       = 30 * time.Second
	// downloadWindow is how far past the tip block bodies are fetched; each
	// peer gets at most maxBlockRequestsPerPeer requests of
	// MaxBlocksPerRequest blocks whose answers are still being read.
	downloadWindow          = 128
	maxBlockRequestsPerPeer = 2
	// maxQueuedBlocks bounds the blocks asked for and not yet handed to the
	// chain, over all peers: the processor holds them decoded in memory,
	// and the window alone does not bound them when it spans several
	// branches, so without it each new peer would add more requests.
	maxQueuedBlocks = downloadWindow
	// maxHeadersAhead pauses header sync while the best header is that far
	// past the tip, which bounds the download queue.
	maxHeadersAhead = 50_000
	// maxPresyncHeaders bounds the headers of a branch held in memory, 8 MB,
	// while it proves enough work to be stored (see syncHeaders).
	maxPresyncHeaders = 100_000
	// maxWantedBlocks bounds the download queue: header sync pauses while
	// that many bodies are wanted.
	maxWantedBlocks = 20_000
	// headersRest is how long a peer whose headers brought no new work is
	// not asked for headers again; it doubles with each such answer in a
	// row, up to maxHeadersRest.
	headersRest      = 10 * time.Second
	maxHeadersRest   = 10 * time.Minute
	progressInterval = 5 * time.Second
	// failurePause is how long a peer whose request failed is left alone.
	failurePause = time.Second
	// blockStallTimeout is where the processor's wait for a peer's blocks
	// starts and returns to (Core's BLOCK_STALLING_TIMEOUT_DEFAULT); each
	// block connected takes blockStallDecay of it off (Core's).
	blockStallTimeout = 2 * time.Second
	blockStallDecay   = 0.15
)

// SyncQueueBytes bounds the blocks read off sync streams and not yet handed
// to the chain, by their encoded size, as maxQueuedBlocks bounds their
// number: 128 blocks of up to 1 MB each, from peers that may be hostile,
// would be 128 MB. They are held encoded, and decoded only by the batch the
// processor hands the chain (one peer's answers, at most 64 blocks, all
// counted here until taken), so the bytes counted bound the bytes held (a
// block's decoded form can be many times its encoding, at a peer's choice,
// and is held only for the blocks the chain is taking). 32 MiB
// is 32 full blocks ahead of the chain, seconds of its work; the queue
// exceeds it by at most two blocks (reserveQueue). The node's soft memory
// limit counts it (cmd/node).
const SyncQueueBytes = 32 << 20

// errInvalidData marks a peer that served a block or header breaking a
// consensus rule.
var errInvalidData = errors.New("peer sent invalid data")

// isMisbehaviour reports whether err is the peer's fault and earns a ban.
func isMisbehaviour(err error) bool {
	return errors.Is(err, errProtocol) || errors.Is(err, errInvalidData)
}

// isNotSupported reports whether a stream failed because the peer does not
// speak our sync protocol: it is on another network, or no Quarry node.
func isNotSupported(err error) bool {
	return errors.Is(err, msmux.ErrNotSupported[protocol.ID]{})
}

// syncService is the resource manager's service of the streams the node
// serves on any version of the sync protocol.
const syncService = "quarry.sync"

// syncProtocols are the sync protocol's IDs on a network, the newest version
// first. A node serves them all; opening a stream it offers them in this
// order, and libp2p takes the first the peer speaks: a node built before
// version 2 speaks only /sync/1, whose status would carry no services, and
// refuses a status with bytes after the chain work.
func syncProtocols(network string) []protocol.ID {
	return []protocol.ID{
		protocol.ID(fmt.Sprintf("/quarry/%s/sync/%d", network, syncV2)),
		protocol.ID(fmt.Sprintf("/quarry/%s/sync/%d", network, syncV1)),
	}
}

// syncVersionOf returns the version of the sync protocol id, one of n.protos.
func (n *Node) syncVersionOf(id protocol.ID) syncVersion {
	if id == n.protos[len(n.protos)-1] {
		return syncV1
	}
	return syncV2
}

// handleStream serves one sync request: read it, answer it, close.
func (n *Node) handleStream(s network.Stream) {
	if !n.enter() {
		_ = s.Reset()
		return
	}
	defer n.wg.Done()
	p := s.Conn().RemotePeer()
	// Over the per-peer limit of the sync service (newResourceManager).
	if err := s.Scope().SetService(syncService); err != nil {
		n.log.Debug("sync stream refused", "peer", p, "err", err)
		_ = s.Reset()
		return
	}
	if err := n.serve(s, p, n.syncVersionOf(s.Protocol())); err != nil {
		_ = s.Reset()
		if isMisbehaviour(err) {
			n.misbehaved(p, err.Error())
		} else {
			n.log.Debug("sync request failed", "peer", p, "err", err)
		}
		return
	}
	_ = s.Close()
}

// serve answers one request on a stream of version v of the protocol.
func (n *Node) serve(s network.Stream, p peer.ID, v syncVersion) error {
	_ = s.SetDeadline(time.Now().Add(readRequestTimeout))
	t, payload, err := readFrame(bufio.NewReader(s), msgStatus, msgGetHeaders, msgGetBlocks)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return protocolErrorf("stream closed without a request")
		}
		return err
	}
	// Decode first: what a request costs the limiter depends on what it asks.
	var (
		st     statusMsg
		gh     getHeadersMsg
		hashes []chain.Hash
		cost   = 1
	)
	switch t {
	case msgStatus:
		st, err = decodeStatus(payload, v)
	case msgGetHeaders:
		gh, err = decodeGetHeaders(payload)
		cost = headersRequestCost
	case msgGetBlocks:
		hashes, err = decodeGetBlocks(payload)
		cost = len(hashes)
	}
	if err != nil {
		return err
	}
	if n.host.Network().Connectedness(p) != network.Connected {
		return errors.New("peer disconnected")
	}
	n.mu.Lock()
	limiter := n.peerLocked(p).limiter
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(n.ctx, requestWait)
	err = limiter.WaitN(ctx, cost)
	cancel()
	if err != nil {
		return fmt.Errorf("peer is over its request rate: %w", err)
	}
	_ = s.SetDeadline(time.Now().Add(writeTimeout))
	w := bufio.NewWriter(s)
	switch t {
	case msgStatus:
		if err := writeFrame(w, msgStatus, n.statusFor(p, v)); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if !n.compatible(st) {
			// Let the peer read the answer before the connection goes, so
			// it learns we are on another network and stays away too.
			_ = s.CloseWrite()
			_ = s.SetReadDeadline(time.Now().Add(foreignLinger))
			_, _ = io.Copy(io.Discard, io.LimitReader(s, 1))
		}
		n.gotStatus(p, st, v)
		return nil
	case msgGetHeaders:
		hs := n.chain.HeadersAfter(gh.Locator, gh.Stop, MaxHeadersPerMsg)
		if err := writeFrame(w, msgHeaders, encodeHeaders(hs)); err != nil {
			return err
		}
	case msgGetBlocks:
		withheld, err := n.checkLimitedWindow(p, hashes)
		if err != nil {
			n.closePeer(p)
			return err
		}
		for i, h := range hashes {
			_ = s.SetWriteDeadline(time.Now().Add(writeTimeout))
			raw, err := n.chain.RawBlock(h)
			// A block stored and later found invalid is never served: the
			// peer would rightly ban us for it.
			if err != nil || n.chain.IsKnownInvalid(h) || (withheld != nil && withheld[i]) {
				err = writeFrame(w, msgNotFound, h[:])
			} else {
				err = writeFrame(w, msgBlock, raw)
			}
			if err != nil {
				return err
			}
		}
	}
	return w.Flush()
}

// errBeyondLimitedWindow answers a request, to a node advertising only
// NodeNetworkLimited, for a block deeper than it serves.
var errBeyondLimitedWindow = errors.New("block request below the NETWORK_LIMITED window")

// checkLimitedWindow refuses a getblocks request, from a node advertising
// only NodeNetworkLimited, for any block more than NetworkLimitedBlocks (and
// the race slack) below the tip it last told p, stored or not: as Core, the
// node then drops the peer, which ought to have known, rather than answer
// notfound and leave it waiting; and serving what it happens to have stored
// would tell peers how far it pruned. A block below the window of the
// current tip but not of the told one is withheld (withheld[i], answered
// notfound, stored or not): our tip moved past the peer's view since the
// last status, most of all while we catch up ourselves, and dropping an
// honest peer for that would cut two syncing nodes apart at every status.
// A peer last told our status in version 1 of the protocol never learnt that
// we serve only our last blocks (that status has no services), whichever
// version it asks in: it is not dropped, and every block below the window is
// withheld.
func (n *Node) checkLimitedWindow(p peer.ID, hashes []chain.Hash) (withheld []bool, err error) {
	if !n.LocalServices().limited() {
		return nil, nil
	}
	tip := n.chain.Best().Height
	var told int32
	var toldServices bool
	n.mu.Lock()
	if ps := n.peers[p]; ps != nil {
		told, toldServices = ps.toldHeight, ps.toldVersion >= syncV2
	}
	n.mu.Unlock()
	for i, h := range hashes {
		info, err := n.chain.BlockInfo(h)
		switch {
		case err != nil:
		case toldServices && told-info.Height > NetworkLimitedBlocks+limitedRace:
			return nil, fmt.Errorf("%w: block %s at height %d, tip at %d (told %d); disconnecting", errBeyondLimitedWindow, h, info.Height, tip, told)
		case tip-info.Height > NetworkLimitedBlocks+limitedRace:
			if withheld == nil {
				withheld = make([]bool, len(hashes))
			}
			withheld[i] = true
		}
	}
	return withheld, nil
}

// request sends one request to p on a new sync stream, of the newest
// protocol version p speaks, and reads the answer with read, within timeout
// unless read moves the stream's deadline. The request is payload(v) and
// read gets v, the version spoken. The answer must end the stream: anything
// after it is unsolicited.
func (n *Node) request(p peer.ID, t msgType, payload func(syncVersion) []byte, timeout time.Duration, read func(network.Stream, *bufio.Reader, syncVersion) error) error {
	ctx, cancel := context.WithTimeout(n.ctx, timeout)
	defer cancel()
	s, err := n.host.NewStream(network.WithNoDial(ctx, "sync request"), p, n.protos...)
	if err != nil {
		return fmt.Errorf("open sync stream: %w", err)
	}
	v := n.syncVersionOf(s.Protocol())
	_ = s.SetDeadline(time.Now().Add(timeout))
	err = writeFrame(s, t, payload(v))
	if err == nil {
		err = s.CloseWrite()
	}
	r := bufio.NewReader(s)
	if err == nil {
		err = read(s, r, v)
		if errors.Is(err, io.EOF) {
			// Our server resets a stream it will not answer; a clean close
			// before the answer is a broken peer.
			err = protocolErrorf("stream closed before the %s answer", t)
		}
	}
	if err == nil {
		if _, perr := r.ReadByte(); perr == nil {
			err = protocolErrorf("unsolicited data after the %s answer", t)
		} else if !errors.Is(perr, io.EOF) {
			err = perr
		}
	}
	if err != nil {
		_ = s.Reset()
		if isTimeout(err) {
			return fmt.Errorf("%w: %s request timed out: %w", errStalled, t, err)
		}
		return err
	}
	return s.Close()
}

// isTimeout reports whether err is a missed deadline; the stream muxers
// each have their own error for it, all with a Timeout method.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout())
}

// errStalled marks a peer that did not answer in time.
var errStalled = errors.New("peer stalled")

// getStatus exchanges statuses with p; it returns p's and the protocol
// version it was told in.
func (n *Node) getStatus(p peer.ID) (statusMsg, syncVersion, error) {
	var st statusMsg
	var spoken syncVersion
	err := n.request(p, msgStatus, func(v syncVersion) []byte { return n.statusFor(p, v) }, n.cfg.StallTimeout, func(_ network.Stream, r *bufio.Reader, v syncVersion) error {
		spoken = v
		_, payload, err := readFrame(r, msgStatus)
		if err != nil {
			return err
		}
		st, err = decodeStatus(payload, v)
		return err
	})
	return st, spoken, err
}

// wantItem is a block whose header is known and whose body is to be fetched.
type wantItem struct {
	hash   chain.Hash
	height int32
	peer   peer.ID // the peer it is asked of, "" if none
	// skip holds peers that said they do not have it (or sent it too early
	// to accept), with their tip at the time: they are asked again once
	// their tip moves.
	skip map[peer.ID]chain.Hash
}

// syncState is the download queue; it is guarded by Node.mu.
type syncState struct {
	want        map[chain.Hash]*wantItem
	order       []*wantItem // by height
	headersBusy bool
	// presync holds headers from presyncPeer of a branch with too little
	// work yet to be stored (blockchain.ErrLowWork), while it proves more.
	presync     []chain.Header
	presyncWork *big.Int // at the end of presync
	presyncPeer peer.ID
	// deliveries are the getblocks requests whose blocks the processor has
	// not yet handed to the chain, in the order they were made.
	deliveries []*delivery
	// queuedBlocks counts the items of deliveries (maxQueuedBlocks).
	queuedBlocks int
	// queuedBytes counts the blocks read off deliveries' streams, and
	// being read, not yet handed to the chain, by their encoded size;
	// maxBytes bounds it (SyncQueueBytes). bytesFreed is closed, and
	// replaced, whenever it falls or processing changes.
	queuedBytes int
	maxBytes    int
	bytesFreed  chan struct{}
	// processing is the delivery the processor is on, nil between two.
	processing *delivery
	// blockStall is how long the processor waits for a peer's next block
	// while others' wait behind (nextArrival), between blockStallFloor
	// and maxBlockStall.
	blockStall, blockStallFloor, maxBlockStall time.Duration
}

func (s *syncState) init(stallTimeout time.Duration) {
	s.want = make(map[chain.Hash]*wantItem)
	s.maxBlockStall = stallTimeout
	s.blockStallFloor = min(blockStallTimeout, stallTimeout)
	s.blockStall = s.blockStallFloor
	s.maxBytes = SyncQueueBytes
	s.bytesFreed = make(chan struct{})
}

func (s *syncState) add(hash chain.Hash, height int32) {
	if _, ok := s.want[hash]; ok {
		return
	}
	it := &wantItem{hash: hash, height: height}
	s.want[hash] = it
	i, _ := slices.BinarySearchFunc(s.order, height, func(w *wantItem, h int32) int { return int(w.height - h) })
	for i < len(s.order) && s.order[i].height == height {
		i++
	}
	s.order = slices.Insert(s.order, i, it)
}

// syncLoop schedules header and block requests whenever something changes
// (a status, a finished request, a peer gone) and once a second.
func (n *Node) syncLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.kickSync:
		case <-t.C:
		}
		n.schedule()
	}
}

func (n *Node) schedule() {
	best := n.chain.Best()
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.sync.headersBusy {
		if p, locator := n.headersPeerLocked(best); p != "" {
			n.sync.headersBusy = true
			if !n.goOwned(func() { n.syncHeaders(p, locator) }) {
				n.sync.headersBusy = false
			}
		}
	}

	// Drop what arrived (by gossip too) from the part of the queue in the
	// window; the rest waits its turn.
	limit := best.Height + downloadWindow
	end, _ := slices.BinarySearchFunc(n.sync.order, limit+1, func(w *wantItem, h int32) int { return int(w.height - h) })
	rest := n.sync.order[end:]
	n.sync.order = slices.DeleteFunc(slices.Clone(n.sync.order[:end]), func(it *wantItem) bool {
		done := it.peer == "" && (n.chain.HaveBlock(it.hash) || n.chain.IsKnownInvalid(it.hash) || n.nobodyHasLocked(it))
		if done {
			delete(n.sync.want, it.hash)
		}
		return done
	})
	n.sync.order = append(n.sync.order, rest...)
	type cand struct {
		id peer.ID
		ps *peerState
	}
	var peers []cand
	now := time.Now()
	for p, ps := range n.peers {
		if ps.hasStatus && now.After(ps.pauseUntil) {
			peers = append(peers, cand{p, ps})
		}
	}
	slices.SortFunc(peers, func(a, b cand) int { return blockSourceOrder(a.ps, b.ps) })
	for _, c := range peers {
		// The lowest height c serves: Core's window, two blocks short for
		// a tip that moved since c's status.
		lowest := int32(0)
		if c.ps.status.Services.limited() {
			lowest = c.ps.status.Height - (NetworkLimitedBlocks - limitedRace) + 1
		}
		for c.ps.blocksInFlight < maxBlockRequestsPerPeer {
			room := min(MaxBlocksPerRequest, maxQueuedBlocks-n.sync.queuedBlocks)
			if n.sync.queuedBytes >= n.sync.maxBytes {
				// Its blocks could not be read before the queue drains.
				room = 0
			}
			var batch []*wantItem
			for _, it := range n.sync.order {
				if it.height > limit || len(batch) >= room {
					break
				}
				if tip, skip := it.skip[c.id]; it.peer == "" && it.height >= lowest && c.ps.status.Height >= it.height && (!skip || tip != c.ps.status.Tip) {
					batch = append(batch, it)
				}
			}
			if len(batch) == 0 {
				break
			}
			for _, it := range batch {
				it.peer = c.id
			}
			d := newDelivery(c.id, c.ps, batch)
			if !n.goOwned(func() { n.fetchBlocks(d) }) {
				return
			}
			c.ps.blocksInFlight++
			n.sync.queuedBlocks += len(batch)
			n.sync.deliveries = append(n.sync.deliveries, d)
			kick(n.kickProcess)
		}
	}
}

// blockSourceOrder orders the peers to ask for blocks: those serving every
// block first, then those serving only their last blocks
// (NodeNetworkLimited), which get what is left in their window; among
// equals, the one with fewer requests in flight first.
func blockSourceOrder(a, b *peerState) int {
	if la, lb := a.status.Services.limited(), b.status.Services.limited(); la != lb {
		if la {
			return 1
		}
		return -1
	}
	return a.blocksInFlight - b.blocksInFlight
}

// nobodyHasLocked reports whether every peer with a status said it does not
// have it, at its current tip: a header whose body is withheld leaves the
// bounded queue instead of filling it. Its header comes again, and it is
// queued again, when a peer's tip moves and its headers are fetched.
func (n *Node) nobodyHasLocked(it *wantItem) bool {
	if len(it.skip) == 0 {
		return false
	}
	for p, ps := range n.peers {
		if tip, skipped := it.skip[p]; ps.hasStatus && (!skipped || tip != ps.status.Tip) {
			return false
		}
	}
	return true
}

// headersPeerLocked picks the peer to ask for headers: of those whose chain
// has more work than ours, whose tip is neither on our main chain nor
// queued, and that are not resting after an answer with no new work: the one
// whose branch is held in presync, else the one claiming the most work. None
// while the download queue is full. (Having the tip is not enough: it may
// be an orphan, or stored while its ancestors' bodies are missing.) It
// returns the locator to send.
func (n *Node) headersPeerLocked(best blockchain.BestState) (peer.ID, []chain.Hash) {
	if n.chain.BestHeaderHeight()-best.Height > maxHeadersAhead || len(n.sync.want) >= maxWantedBlocks {
		return "", nil
	}
	var pick peer.ID
	var ps *peerState
	now := time.Now()
	for p, s := range n.peers {
		st := s.status
		if !s.hasStatus || st.Work.Cmp(best.ChainWork) <= 0 || s.headersDone == st.Tip || now.Before(s.headersRestUntil) {
			continue
		}
		if _, queued := n.sync.want[st.Tip]; queued || n.onMainChain(st.Tip) || n.chain.IsKnownInvalid(st.Tip) {
			continue
		}
		if p == n.sync.presyncPeer && len(n.sync.presync) > 0 {
			// A presync under way goes on first: any other peer's header
			// sync would drop the branch held, and peers claiming more
			// work, under ever new identities, could otherwise restart an
			// honest peer's presync for ever. It ends within
			// maxPresyncHeaders.
			return p, n.headersLocatorLocked(p, s)
		}
		if ps == nil || st.Work.Cmp(ps.status.Work) > 0 {
			pick, ps = p, s
		}
	}
	if ps == nil {
		return "", nil
	}
	return pick, n.headersLocatorLocked(pick, ps)
}

// headersLocatorLocked returns the locator to send p: after the last header
// it sent, if that can be continued, else from the main chain. Its last
// header may have been held only in presync, which another peer's header
// sync has since replaced: asked to continue from there, p would answer with
// headers that start at a block the node no longer knows, a protocol error
// that would ban an honest peer. So p starts its branch again.
func (n *Node) headersLocatorLocked(p peer.ID, ps *peerState) []chain.Hash {
	locator := n.chain.BlockLocator()
	if last := ps.lastHeader; !last.IsZero() {
		if n.continuableLocked(p, last) {
			locator = append([]chain.Hash{last}, locator...)
		} else {
			ps.lastHeader = chain.Hash{}
		}
	}
	if len(locator) > maxLocatorHashes {
		locator = append(locator[:maxLocatorHashes-1], n.params.GenesisHash)
	}
	return locator
}

// continuableLocked reports whether headers after last, from p, can be taken:
// last is in the index, or ends p's headers held in presync.
func (n *Node) continuableLocked(p peer.ID, last chain.Hash) bool {
	if n.haveHeader(last) {
		return true
	}
	held := n.sync.presync
	return n.sync.presyncPeer == p && len(held) > 0 && held[len(held)-1].Hash() == last
}

func (n *Node) onMainChain(h chain.Hash) bool {
	info, err := n.chain.BlockInfo(h)
	return err == nil && info.MainChain
}

// syncHeaders fetches one batch of headers from p, stores them in the chain
// and queues their bodies. Headers of a branch with too little work to store
// (a fork from far below the tip, until enough of it arrived) are held in
// memory, up to maxPresyncHeaders, and handed to the chain again with each
// batch that continues them, until the branch has proved enough work or the
// peer has no more: Bitcoin Core's headers presync, which keeps cheap
// low-work headers out of the index and off the disk.
func (n *Node) syncHeaders(p peer.ID, locator []chain.Hash) {
	defer kick(n.kickSync)
	n.mu.Lock()
	ps := n.peerLocked(p)
	target := ps.status.Tip
	if n.sync.presyncPeer != p {
		n.sync.presync, n.sync.presyncWork, n.sync.presyncPeer = nil, nil, p
	}
	pending, pendingWork := n.sync.presync, n.sync.presyncWork
	n.mu.Unlock()
	received, err := n.getHeaders(p, locator)
	// progress: the answer brought headers the node stored; held: it only
	// grew the branch held in presync, which proves nothing yet. Judged by
	// the answer's own last header, not by the best header's work, which a
	// gossiped block may raise meanwhile: a liar would time its useless
	// answers to blocks it sees on gossip and never rest.
	progress, held := false, false
	if err == nil {
		hs := received
		var fresh chain.Hash
		if len(hs) > 0 {
			if last := hs[len(hs)-1].Hash(); !n.haveHeader(last) {
				fresh = last
			}
		}
		var heldWork *big.Int
		if len(pending) > 0 && len(hs) > 0 && hs[0].PrevBlock == pending[len(pending)-1].Hash() {
			// Only the new batch is counted; the branch is handed to the
			// chain once, when it has proved enough.
			hs = append(slices.Clip(pending), received...)
			var enough bool
			heldWork, enough = n.chain.PresyncWork(pendingWork, received)
			err = blockchain.ErrLowWork
			if enough {
				err = n.acceptHeaders(hs)
			}
		} else {
			err = n.acceptHeaders(hs)
			if errors.Is(err, blockchain.ErrLowWork) {
				heldWork = n.branchWork(hs)
			}
		}
		full := len(received) == MaxHeadersPerMsg
		progress = !fresh.IsZero() && n.haveHeader(fresh)
		n.mu.Lock()
		n.sync.presync, n.sync.presyncWork = nil, nil
		switch {
		case errors.Is(err, blockchain.ErrLowWork) && full && len(hs) < maxPresyncHeaders:
			n.sync.presync, n.sync.presyncWork = hs, heldWork
			ps.lastHeader = hs[len(hs)-1].Hash()
			held = len(hs) > len(pending)
			err = nil
		case err == nil && full:
			ps.lastHeader = hs[len(hs)-1].Hash()
		case !isMisbehaviour(err):
			// The peer has no more, sent headers we cannot take yet (from
			// the future), or a branch that never gets enough work: do not
			// ask again until its tip changes.
			ps.lastHeader = chain.Hash{}
			ps.headersDone = target
		}
		n.mu.Unlock()
	}
	// A peer's claim of more work is only a claim: one whose answer brought
	// none rests, longer each time in a row, and others are asked. Else a
	// liar claiming the most work and answering with useless headers would
	// hold the one header-sync slot for ever.
	// A presync that grows is neither: it neither clears the peer's strikes
	// nor adds one, so a peer that restarts light branches of 100,000
	// headers, each ending short of the work it claimed, rests longer after
	// each, while an honest peer's long presync is not cut short.
	n.mu.Lock()
	switch {
	case progress:
		ps.headersStrikes = 0
	case held:
	default:
		ps.headersStrikes++
		ps.headersRestUntil = time.Now().Add(min(headersRest<<min(ps.headersStrikes-1, 10), maxHeadersRest))
	}
	n.mu.Unlock()
	n.mu.Lock()
	n.sync.headersBusy = false
	n.mu.Unlock()
	if err != nil {
		n.peerFailed(p, err)
	}
}

// haveHeader reports whether h is in the chain's index.
func (n *Node) haveHeader(h chain.Hash) bool {
	_, err := n.chain.BlockInfo(h)
	return err == nil
}

// branchWork is the cumulative work at the end of hs, headers extending a
// header in the index.
func (n *Node) branchWork(hs []chain.Header) *big.Int {
	parent, err := n.chain.BlockInfo(hs[0].PrevBlock)
	if err != nil {
		return new(big.Int)
	}
	work, _ := n.chain.PresyncWork(parent.ChainWork, hs)
	return work
}

func (n *Node) getHeaders(p peer.ID, locator []chain.Hash) ([]chain.Header, error) {
	req := getHeadersMsg{Locator: locator}
	var hs []chain.Header
	err := n.request(p, msgGetHeaders, func(syncVersion) []byte { return req.encode() }, n.cfg.StallTimeout, func(_ network.Stream, r *bufio.Reader, _ syncVersion) error {
		_, payload, err := readFrame(r, msgHeaders)
		if err != nil {
			return err
		}
		hs, err = decodeHeaders(payload)
		return err
	})
	return hs, err
}

// acceptHeaders stores a peer's headers and queues the bodies the node lacks.
func (n *Node) acceptHeaders(hs []chain.Header) error {
	if len(hs) == 0 {
		return nil
	}
	parent, err := n.chain.BlockInfo(hs[0].PrevBlock)
	if err != nil {
		// We sent a locator of our own chain: an honest answer starts on it.
		return protocolErrorf("headers start at unknown block %s", hs[0].PrevBlock)
	}
	if err := n.chain.AcceptHeaders(hs); err != nil {
		if fault, broke := chain.TxFault(err); broke && fault == chain.FaultSender {
			return fmt.Errorf("%w: header: %w", errInvalidData, err)
		}
		return fmt.Errorf("accept headers: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range hs {
		h := hs[i].Hash()
		if !n.chain.HaveBlock(h) {
			n.sync.add(h, parent.Height+1+int32(i))
		}
	}
	return nil
}

// fetchBlocks asks p for a batch of blocks and passes each, as it arrives,
// to the delivery d that schedule queued for the processor; it closes d when
// the answer ends.
func (n *Node) fetchBlocks(d *delivery) {
	defer close(d.arrived)
	p, ps, batch := d.peer, d.ps, d.items
	hashes := make([]chain.Hash, len(batch))
	for i, it := range batch {
		hashes[i] = it.hash
	}
	req := encodeGetBlocks(hashes)
	err := n.request(p, msgGetBlocks, func(syncVersion) []byte { return req }, n.cfg.StallTimeout, func(s network.Stream, r *bufio.Reader, _ syncVersion) error {
		for i, h := range hashes {
			// Each block has its own deadline: a batch of large blocks on a
			// slow link is not held against the peer as a whole.
			_ = s.SetReadDeadline(time.Now().Add(n.cfg.StallTimeout))
			reserved := 0
			t, payload, err := readFrameAdmit(r, func(t msgType, size int) error {
				if t != msgBlock {
					return nil
				}
				if err := n.reserveQueue(d, size); err != nil {
					return err
				}
				reserved = size
				// The wait for room was ours, not the peer's.
				_ = s.SetReadDeadline(time.Now().Add(n.cfg.StallTimeout))
				return nil
			}, msgBlock, msgNotFound)
			if err == nil && t == msgBlock {
				err = checkBlockHash(payload, h)
			}
			if err != nil {
				n.releaseQueue(reserved)
				return err
			}
			if t == msgNotFound {
				nh, err := decodeNotFound(payload)
				if err != nil {
					return err
				}
				if nh != h {
					return protocolErrorf("notfound for %s, asked for %s", nh, h)
				}
				n.skipPeer(batch[i], p, ps)
				continue
			}
			d.arrived <- arrival{item: batch[i], raw: payload}
		}
		return nil
	})
	n.mu.Lock()
	d.complete = err == nil
	n.answerReadLocked(d)
	if err != nil {
		// Whatever went wrong, do not ask this peer again at once.
		ps.pauseUntil = time.Now().Add(failurePause)
	}
	n.mu.Unlock()
	kick(n.kickSync)
	if err != nil {
		n.peerFailed(p, err)
	}
}

// checkBlockHash checks that a block message is of the block asked for, by
// its header; the processor decodes the rest.
func checkBlockHash(payload []byte, want chain.Hash) error {
	got, err := blockMsgHash(payload)
	if err == nil && got != want {
		err = protocolErrorf("unsolicited block %s, asked for %s", got, want)
	}
	return err
}

// skipPeer stops asking p for it until p's tip moves.
func (n *Node) skipPeer(it *wantItem, p peer.ID, ps *peerState) {
	n.mu.Lock()
	if it.skip == nil {
		it.skip = make(map[peer.ID]chain.Hash)
	}
	it.skip[p] = ps.status.Tip
	n.mu.Unlock()
}

// processSynced hands blocks from sync, each extending the one before, to
// the chain as one batch, and returns the outcome of each. A block that
// breaks a rule is the serving peer's fault, as chain's rule table says; one
// it may pass later (dated too far ahead) comes back as it is, for the
// caller to skip that peer's copy.
func (n *Node) processSynced(blocks ...*chain.Block) []error {
	if len(blocks) == 0 {
		return nil
	}
	outcomes := n.chain.ProcessBlocks(blocks)
	errs := make([]error, len(blocks))
	for i, o := range outcomes {
		errs[i] = syncedError(blocks[i], o.Err)
	}
	return errs
}

// syncedError is what err, the chain's outcome for block b from sync, says
// of its peer.
func syncedError(b *chain.Block, err error) error {
	switch fault, broke := chain.BlockFault(err); {
	case err == nil, broke && fault == chain.FaultPolicy:
		// Gossip may have brought the block meanwhile.
		return nil
	case errors.Is(err, blockchain.ErrForkBeyondPrune):
		// Stored, on a branch this pruned node cannot follow (the chain
		// warned once): the peer served what we asked for, and the blocks
		// after it in the request are to be processed, not asked again.
		return nil
	case broke && fault == chain.FaultTime:
		return err
	case broke:
		return fmt.Errorf("%w: block %s: %w", errInvalidData, b.Hash(), err)
	default:
		return fmt.Errorf("process block %s: %w", b.Hash(), err)
	}
}

// peerFailed deals with a failed request: a peer that broke the protocol or
// sent invalid data is banned, one that stalled is dropped.
func (n *Node) peerFailed(p peer.ID, err error) {
	switch {
	case isMisbehaviour(err):
		n.misbehaved(p, err.Error())
	case errors.Is(err, errStalled):
		n.log.Info("dropping stalled peer", "peer", p, "err", err)
		n.closePeer(p)
	case n.ctx.Err() == nil:
		n.log.Debug("sync request failed", "peer", p, "err", err)
	}
}

// SyncProgress describes how far the node is in catching up with its peers.
type SyncProgress struct {
	Height int32
	// HeaderHeight is the height of the best valid header, which runs ahead
	// of Height while bodies are fetched.
	HeaderHeight int32
	// PeerHeight is the best height peers announce. It is what they say, not
	// what they proved, so it does not count towards Progress.
	PeerHeight int32
	// Progress is Height over HeaderHeight, 1 when the node has caught up.
	Progress float64
	// InitialBlockDownload: the node has headers of blocks it has not caught
	// up to yet, and has never had a recent tip (chain.CaughtUp), after
	// which a header ahead of the tip is a block still on its way.
	InitialBlockDownload bool
}

// SyncProgress reports how far the node is in catching up.
func (n *Node) SyncProgress() SyncProgress {
	sp := SyncProgress{Height: n.chain.Best().Height, HeaderHeight: n.chain.BestHeaderHeight(), Progress: 1}
	n.mu.Lock()
	for _, ps := range n.peers {
		if ps.hasStatus {
			sp.PeerHeight = max(sp.PeerHeight, ps.status.Height)
		}
	}
	n.mu.Unlock()
	if sp.Height < sp.HeaderHeight {
		sp.Progress = float64(sp.Height) / float64(sp.HeaderHeight)
		sp.InitialBlockDownload = !n.chain.CaughtUp()
	}
	return sp
}

// IsInitialBlockDownload reports whether the node is still catching up with
// blocks whose headers it has: it is then no use mining on its tip or
// relaying transactions.
func (n *Node) IsInitialBlockDownload() bool { return n.SyncProgress().InitialBlockDownload }

// progressLoop logs sync progress every few seconds while the node catches up.
func (n *Node) progressLoop() {
	lastHeight, lastTime := n.chain.Best().Height, time.Now()
	for n.wait(progressInterval) {
		sp := n.SyncProgress()
		now := time.Now()
		if !sp.InitialBlockDownload {
			lastHeight, lastTime = sp.Height, now
			continue
		}
		rate := float64(sp.Height-lastHeight) / now.Sub(lastTime).Seconds()
		attrs := []any{"height", sp.Height, "headers", sp.HeaderHeight,
			"progress", fmt.Sprintf("%.2f%%", 100*sp.Progress), "blocks_per_sec", fmt.Sprintf("%.1f", rate)}
		if rate > 0 {
			left := time.Duration(float64(sp.HeaderHeight-sp.Height) / rate * float64(time.Second))
			attrs = append(attrs, "time_left", left.Round(time.Second))
		}
		n.log.Info("sync progress", attrs...)
		lastHeight, lastTime = sp.Height, now
	}
}
