package p2p

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
)

// Gossip limits and queue sizes.
const (
	// maxGossipMessage is the one message size limit of every node: a full
	// block plus room for pubsub's envelope (topic name, protobuf framing).
	// Every node must use the same value, or a block one accepts another drops.
	maxGossipMessage = chain.MaxBlockSize + 64<<10
	// validateQueueSize and outboundQueueSize replace pubsub's defaults of 32,
	// which drop messages once a burst of blocks or transactions arrives
	// faster than they are validated or sent.
	validateQueueSize = 4096
	outboundQueueSize = 512
	subBufferSize     = 1024
	// blockValidateTimeout bounds one block's validation, which includes
	// ProcessBlock and waiting for its parent's validation to end.
	blockValidateTimeout = 30 * time.Second
	txValidateTimeout    = 10 * time.Second
	// seenSetSize bounds the node's own record of message ids it judged.
	seenSetSize = 1 << 14
)

// orphanWait is how long a gossiped block whose parent is unknown waits for
// the parent to arrive before it is taken for an orphan. A variable so that a
// test can tell a wake-up from the timeout.
var orphanWait = time.Second

// localPublish marks, in pubsub's ValidatorData, a message the node publishes
// itself: the block or transaction is already processed, so the validator
// accepts it instead of finding it "already known".
type localPublish struct{}

// messageID is the SHA-256 of the whole message. Not the block hash or txid:
// pubsub marks an id seen before validating, so a corrupted body under an
// honest header (or txid) would otherwise shadow the honest message.
func messageID(m *pb.Message) string { return dataID(m.Data) }

func dataID(data []byte) string {
	h := sha256.Sum256(data)
	return string(h[:])
}

func (n *Node) blockTopicName() string { return "/quarry/" + n.params.Name + "/blocks/1" }
func (n *Node) txTopicName() string    { return "/quarry/" + n.params.Name + "/txs/1" }

// startGossip starts gossipsub, registers the validators and subscribes to
// both topics.
func (n *Node) startGossip() error {
	params, thresholds := scoreParams(n.blockTopicName(), n.txTopicName())
	ps, err := pubsub.NewGossipSub(n.ctx, n.host,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithMaxMessageSize(maxGossipMessage),
		pubsub.WithValidateQueueSize(validateQueueSize),
		pubsub.WithPeerOutboundQueueSize(outboundQueueSize),
		// Our own blocks go to every peer subscribed to the topic, not just the
		// mesh, so a block published before the mesh forms still leaves.
		pubsub.WithFloodPublish(true),
		// Peer exchange would hand our peers addresses we have not vetted.
		pubsub.WithPeerExchange(false),
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(n.setScores), 5*time.Second),
		pubsub.WithLogger(slog.New(demoteHandler{n.log.Handler(), tagBumpWarning}).With("component", "pubsub")),
		pubsub.WithRawTracer(meshTracer{n}),
	)
	if err != nil {
		return fmt.Errorf("start gossipsub: %w", err)
	}
	n.ps = ps
	if err := ps.RegisterTopicValidator(n.blockTopicName(), n.validateBlock,
		pubsub.WithValidatorTimeout(blockValidateTimeout)); err != nil {
		return fmt.Errorf("block validator: %w", err)
	}
	if err := ps.RegisterTopicValidator(n.txTopicName(), n.validateTx,
		pubsub.WithValidatorTimeout(txValidateTimeout)); err != nil {
		return fmt.Errorf("transaction validator: %w", err)
	}
	if n.blockTopic, err = n.join(n.blockTopicName()); err != nil {
		return err
	}
	if n.txTopic, err = n.join(n.txTopicName()); err != nil {
		return err
	}
	return nil
}

// join joins a topic and subscribes to it so the node is in its mesh. The
// validators already did all the work, so what the subscription delivers is
// dropped.
func (n *Node) join(name string) (*pubsub.Topic, error) {
	t, err := n.ps.Join(name)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", name, err)
	}
	sub, err := t.Subscribe(pubsub.WithBufferSize(subBufferSize))
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", name, err)
	}
	n.goOwned(func() {
		defer sub.Cancel()
		for {
			if _, err := sub.Next(n.ctx); err != nil {
				return
			}
		}
	})
	return t, nil
}

// scoreParams are gossipsub's peer-scoring parameters. Scoring is a second
// line of defence: a peer that sends an invalid block or transaction is
// banned outright, but scores also catch what the validators cannot pin on
// one message (broken IWANT promises, spam of ignored messages).
func scoreParams(blockTopic, txTopic string) (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	loopback4 := &net.IPNet{IP: net.IPv4(127, 0, 0, 0), Mask: net.CIDRMask(8, 32)}
	loopback6 := &net.IPNet{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)}
	decay := func(d time.Duration) float64 { return pubsub.ScoreParameterDecay(d) }
	topic := func(weight, firstDeliveryWeight, firstDeliveryCap, invalidWeight float64) *pubsub.TopicScoreParams {
		return &pubsub.TopicScoreParams{
			TopicWeight: weight,
			// P1, time in mesh: a small reward for staying, worth at most 10
			// after an hour, so old peers are kept when the mesh is pruned.
			TimeInMeshWeight:  10.0 / 3600,
			TimeInMeshQuantum: time.Second,
			TimeInMeshCap:     3600,
			// P2, first deliveries: rewards peers that bring us messages first.
			FirstMessageDeliveriesWeight: firstDeliveryWeight,
			FirstMessageDeliveriesDecay:  decay(time.Hour),
			FirstMessageDeliveriesCap:    firstDeliveryCap,
			// P3 and P3b (mesh delivery rate) stay off: blocks come every ten
			// minutes on main and transactions in bursts, so a quiet honest
			// peer would look like one that withholds messages.
			// P4, invalid messages: squared, so one invalid message sinks a
			// peer and a few graylist it; it decays over a day, as long as a ban.
			InvalidMessageDeliveriesWeight: invalidWeight,
			InvalidMessageDeliveriesDecay:  decay(24 * time.Hour),
		}
	}
	params := &pubsub.PeerScoreParams{
		Topics: map[string]*pubsub.TopicScoreParams{
			// One invalid block (which took proof of work to make, or was
			// mutated) scores -1000, below the graylist: its sender is ignored.
			blockTopic: topic(1, 1, 20, -1000),
			// An invalid transaction costs nothing to make; one scores -100
			// (no more gossip from us to it), two -400 (graylisted).
			txTopic: topic(0.5, 0.1, 100, -200),
		},
		TopicScoreCap:     50,
		AppSpecificScore:  func(peer.ID) float64 { return 0 },
		AppSpecificWeight: 1,
		// P6, IP colocation: more than 8 peers from one address is a likely
		// Sybil. Loopback is exempt: local testnets run every node on it.
		IPColocationFactorWeight:    -10,
		IPColocationFactorThreshold: 8,
		IPColocationFactorWhitelist: []*net.IPNet{loopback4, loopback6},
		// P7, broken gossip promises and early regrafts, past a small allowance.
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     decay(10 * time.Minute),
		DecayInterval:             pubsub.DefaultDecayInterval,
		DecayToZero:               pubsub.DefaultDecayToZero,
		// A penalised peer that reconnects keeps its score for an hour.
		RetainScore: time.Hour,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:             -100,
		PublishThreshold:            -200,
		GraylistThreshold:           -400,
		AcceptPXThreshold:           100,
		OpportunisticGraftThreshold: 5,
	}
	return params, thresholds
}

func (n *Node) setScores(scores map[peer.ID]float64) {
	n.mu.Lock()
	n.scores = scores
	n.mu.Unlock()
}

// errMessageTooLarge is returned for a block or transaction too large to
// gossip; pubsub would drop it silently.
var errMessageTooLarge = errors.New("message is over the gossip size limit")

// PublishBlock sends a block to the network. The block must already be
// processed by the chain (mined here, or from RPC or sync); blocks that
// arrive by gossip are relayed by gossipsub itself.
func (n *Node) PublishBlock(b *chain.Block) error {
	return n.publish(n.blockTopic, b.Encode(), "block", b.Hash())
}

// PublishTx sends a transaction to the network. The transaction must already
// be in the mempool. Publishing it again (after a reorganisation brought it
// back, say) reaches peers that do not have it yet: see txMessage.
func (n *Node) PublishTx(tx *chain.Tx) error {
	return n.publish(n.txTopic, txMessage(tx), "transaction", tx.TxID())
}

// txAnnounceLen is the size of the random announcement prefix of a
// transaction message.
const txAnnounceLen = 8

// txMessage is a transaction message: a random 8-byte announcement nonce and
// the transaction's encoding. Gossipsub drops, for minutes, any message whose
// id it has seen, the node's own publishes included; with the nonce, a node
// can announce a transaction again (one back from a disconnected block, for
// peers that were on the other branch) under a new id. Peers that already have
// it ignore the repeat without relaying it, so a repeat costs one hop.
func txMessage(tx *chain.Tx) []byte {
	msg := make([]byte, txAnnounceLen, txAnnounceLen+tx.SerializeSize())
	rand.Read(msg)
	return tx.AppendEncoding(msg, true)
}

// decodeTxMessage reads a transaction message.
func decodeTxMessage(data []byte) (*chain.Tx, error) {
	if len(data) < txAnnounceLen {
		return nil, fmt.Errorf("message of %d bytes is shorter than its announcement nonce", len(data))
	}
	return chain.DecodeTx(data[txAnnounceLen:])
}

func (n *Node) publish(t *pubsub.Topic, data []byte, what string, id chain.Hash) error {
	if len(data) > chain.MaxBlockSize {
		return fmt.Errorf("publish %s %s of %d bytes: %w", what, id, len(data), errMessageTooLarge)
	}
	if err := t.Publish(n.ctx, data, pubsub.WithValidatorData(localPublish{})); err != nil {
		return fmt.Errorf("publish %s %s: %w", what, id, err)
	}
	n.seen.add(dataID(data), pubsub.ValidationAccept)
	return nil
}

// validateBlock is the block topic's validator. It runs the whole of
// ProcessBlock before accepting, though that takes tens of milliseconds, so
// the node relays only blocks that are valid in their chain: on regtest and
// testnet proof of work costs next to nothing, and a node relaying merely
// sane blocks would spread any junk an attacker cares to make. Validators run
// concurrently; ProcessBlock serialises on the chain, and a block whose
// parent is still being validated waits for it, so a burst of blocks keeps
// its order.
func (n *Node) validateBlock(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if _, ok := msg.ValidatorData.(localPublish); ok {
		return pubsub.ValidationAccept
	}
	if !n.enter() {
		return pubsub.ValidationIgnore
	}
	defer n.wg.Done()
	id := msgIDOf(msg)
	if v, ok := n.seen.get(id); ok {
		return repeatVerdict(v)
	}
	// The 80-byte header first: its hash and proof of work cost one hash and
	// turn away junk, and known blocks, before a megabyte is decoded.
	// ProcessBlock runs the rest of the sanity checks, once, and its rule
	// errors are rejected below like any other.
	if len(msg.Data) < chain.HeaderSize {
		return n.rejectGossip(id, from, fmt.Sprintf("undecodable block: %d bytes is shorter than a header", len(msg.Data)))
	}
	header, err := chain.DecodeHeader(msg.Data[:chain.HeaderSize])
	if err != nil {
		return n.rejectGossip(id, from, fmt.Sprintf("undecodable block: %v", err))
	}
	hash := header.Hash()
	if n.chain.IsKnownInvalid(hash) {
		return n.rejectGossip(id, from, fmt.Sprintf("known invalid block %s", hash))
	}
	if n.chain.HaveBlock(hash) {
		return pubsub.ValidationIgnore
	}
	if err := chain.CheckProofOfWork(&header, n.params); err != nil {
		return n.rejectGossip(id, from, fmt.Sprintf("block %s fails its proof of work: %v", hash, err))
	}
	b, err := chain.DecodeBlock(msg.Data)
	if err != nil {
		return n.rejectGossip(id, from, fmt.Sprintf("undecodable block: %v", err))
	}
	done := n.beginValidation(ctx, hash, b.Header.PrevBlock)
	defer done()
	// Unrequested: one on a branch with less work than the tip is dropped
	// unstored (LowWork) and ignored below, as a side-branch block is.
	res, err := n.chain.ProcessUnrequestedBlock(b)
	fault, broke := chain.BlockFault(err)
	switch {
	case err == nil && res.Orphan:
		n.log.Debug("gossiped block extends an unknown block; syncing", "hash", hash, "peer", from)
		n.requestStatus(from)
		return pubsub.ValidationIgnore
	case err == nil && res.MainChain:
		n.seen.add(id, pubsub.ValidationAccept)
		height := int32(-1)
		if info, err := n.chain.BlockInfo(hash); err == nil {
			height = info.Height
		}
		n.log.Info("new block from gossip", "hash", hash, "height", height, "peer", from)
		return pubsub.ValidationAccept
	case err == nil:
		// Stored on a side branch, or waiting for an ancestor's body: not
		// ours to relay.
		return pubsub.ValidationIgnore
	case broke && fault == chain.FaultSender:
		return n.rejectGossip(id, from, fmt.Sprintf("invalid block %s: %v", hash, err))
	case broke:
		// A duplicate, or a block from the future, which may become valid:
		// it is not the sender's fault that its clock runs ahead of ours.
		return pubsub.ValidationIgnore
	case errors.Is(err, blockchain.ErrForkBeyondPrune):
		// Stored, on a branch this pruned node cannot follow: not ours to
		// relay, and no fault of the sender's.
		return pubsub.ValidationIgnore
	default:
		n.log.Error("process gossiped block", "hash", hash, "err", err)
		return pubsub.ValidationIgnore
	}
}

// beginValidation records that the block hash is being validated and waits
// for its parent: if the parent is being validated, until that ends; if its
// body is not stored, until it is or orphanWait passes. Pubsub validates each
// message on its own goroutine, so a burst of blocks from one peer reaches
// here in any order; without the wait, a child would be found an orphan and
// not relayed. The returned function ends hash's validation.
func (n *Node) beginValidation(ctx context.Context, hash, parent chain.Hash) func() {
	ch := make(chan struct{})
	n.mu.Lock()
	n.validating[hash] = ch
	n.mu.Unlock()
	timeout := time.NewTimer(orphanWait)
	defer timeout.Stop()
	for {
		n.mu.Lock()
		parentCh, anyDone := n.validating[parent], n.validated
		n.mu.Unlock()
		if parentCh == nil {
			// A parent known by its header alone (from headers-first sync)
			// is still awaited: its body decides whether the child connects.
			if n.chain.HaveBlock(parent) || n.chain.IsKnownInvalid(parent) {
				break
			}
			parentCh = anyDone
		}
		select {
		case <-parentCh:
			continue
		case <-timeout.C:
		case <-ctx.Done():
		case <-n.ctx.Done():
		}
		break
	}
	return func() {
		n.mu.Lock()
		if n.validating[hash] == ch {
			delete(n.validating, hash)
		}
		n.mu.Unlock()
		close(ch)
		n.wakeValidators()
	}
}

// wakeValidators wakes every validation waiting for a parent to look again.
func (n *Node) wakeValidators() {
	n.mu.Lock()
	close(n.validated)
	n.validated = make(chan struct{})
	n.mu.Unlock()
}

// validateTx is the transaction topic's validator: the mempool decides.
func (n *Node) validateTx(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if _, ok := msg.ValidatorData.(localPublish); ok {
		return pubsub.ValidationAccept
	}
	if !n.enter() {
		return pubsub.ValidationIgnore
	}
	defer n.wg.Done()
	id := msgIDOf(msg)
	if v, ok := n.seen.get(id); ok {
		return repeatVerdict(v)
	}
	tx, err := decodeTxMessage(msg.Data)
	if err != nil {
		return n.rejectGossip(id, from, fmt.Sprintf("undecodable transaction: %v", err))
	}
	if n.cfg.TxPool == nil {
		return pubsub.ValidationIgnore
	}
	err = n.cfg.TxPool.Accept(tx, from.String())
	switch fault, broke := chain.TxFault(err); {
	case err == nil:
		n.seen.add(id, pubsub.ValidationAccept)
		return pubsub.ValidationAccept
	case broke && fault == chain.FaultSender:
		return n.rejectGossip(id, from, fmt.Sprintf("invalid transaction %s: %v", tx.TxID(), err))
	default:
		n.log.Debug("transaction not accepted", "txid", tx.TxID(), "peer", from, "err", err)
		return pubsub.ValidationIgnore
	}
}

// rejectGossip records an invalid message and bans the peer that sent it:
// honest peers validate before relaying, so the sender is to blame.
func (n *Node) rejectGossip(id string, from peer.ID, reason string) pubsub.ValidationResult {
	n.seen.add(id, pubsub.ValidationReject)
	n.misbehaved(from, reason)
	return pubsub.ValidationReject
}

// repeatVerdict answers a message the node judged before pubsub's seen cache
// let it through again: an accepted one is not relayed twice, a rejected one
// stays rejected.
func repeatVerdict(v pubsub.ValidationResult) pubsub.ValidationResult {
	if v == pubsub.ValidationReject {
		return pubsub.ValidationReject
	}
	return pubsub.ValidationIgnore
}

// msgIDOf is the message's id, which pubsub has usually worked out already.
func msgIDOf(msg *pubsub.Message) string {
	if msg.ID != "" {
		return msg.ID
	}
	return messageID(msg.Message)
}

// seenSet is a bounded record of the verdicts on recent message ids, oldest
// forgotten first.
type seenSet struct {
	mu    sync.Mutex
	m     map[string]pubsub.ValidationResult
	order []string // a ring of the ids in m, next the oldest
	next  int
}

func newSeenSet(size int) *seenSet {
	return &seenSet{m: make(map[string]pubsub.ValidationResult, size), order: make([]string, size)}
}

func (s *seenSet) get(id string) (pubsub.ValidationResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[id]
	return v, ok
}

func (s *seenSet) add(id string, v pubsub.ValidationResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; ok {
		s.m[id] = v
		return
	}
	if old := s.order[s.next]; old != "" {
		delete(s.m, old)
	}
	s.order[s.next] = id
	s.m[id] = v
	s.next = (s.next + 1) % len(s.order)
}

// scoreOf returns p's gossip score, zero until pubsub has scored it.
func (n *Node) scoreOf(p peer.ID) float64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.scores[p]
}

// meshTracer follows gossipsub's mesh, for PeerInfo: which topics' meshes
// each peer is in. Pubsub calls it on its event loop, so it only takes n.mu
// briefly; the other events are of no interest.
type meshTracer struct{ n *Node }

var _ pubsub.RawTracer = meshTracer{}

func (t meshTracer) Graft(p peer.ID, topic string) {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	if t.n.mesh[p] == nil {
		t.n.mesh[p] = make(map[string]bool)
	}
	t.n.mesh[p][topic] = true
}

func (t meshTracer) Prune(p peer.ID, topic string) {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	delete(t.n.mesh[p], topic)
}

func (t meshTracer) RemovePeer(p peer.ID) {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	delete(t.n.mesh, p)
}

func (meshTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (meshTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (meshTracer) OnClosedOutboundStream(peer.ID)                       {}
func (meshTracer) Join(string)                                          {}
func (meshTracer) Leave(string)                                         {}
func (meshTracer) ValidateMessage(*pubsub.Message)                      {}
func (meshTracer) DeliverMessage(*pubsub.Message)                       {}
func (meshTracer) RejectMessage(*pubsub.Message, string)                {}
func (meshTracer) DuplicateMessage(*pubsub.Message)                     {}
func (meshTracer) ThrottlePeer(peer.ID)                                 {}
func (meshTracer) RecvRPC(*pubsub.RPC)                                  {}
func (meshTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (meshTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (meshTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (meshTracer) UndeliverableMessage(*pubsub.Message)                 {}

// meshTopicsLocked lists the topics in whose mesh p is; n.mu must be held.
func (n *Node) meshTopicsLocked(p peer.ID) []string {
	var out []string
	for topic := range n.mesh[p] {
		out = append(out, topic)
	}
	slices.Sort(out)
	return out
}
