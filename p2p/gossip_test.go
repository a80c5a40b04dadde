package p2p

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// gossipNodes starts n nodes that only learn of blocks by gossip (and the
// sync an orphan triggers): the periodic status check is too slow to matter.
func gossipNodes(t *testing.T, n int) []*testNode {
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = newTestNode(t, func(c *Config) { c.StatusInterval = time.Minute })
	}
	return nodes
}

// checkPropagation publishes blocks from several nodes and a transaction from
// the last one and waits until every node has them all.
func checkPropagation(t *testing.T, nodes []*testNode, neighbours func(i int) []*testNode) {
	for i, n := range nodes {
		waitFor(t, 10*time.Second, fmt.Sprintf("node %d handshakes and subscriptions", i), func() bool {
			return n.ready(neighbours(i)...) && n.gossipReady(neighbours(i)...)
		})
	}
	blocks := mainBlocks(6)
	// Bursts from one end, then from the middle: relays must keep the order.
	for i, b := range blocks {
		from := nodes[0]
		if i >= 3 {
			from = nodes[len(nodes)/2]
		}
		from.process(b)
		if err := from.node.PublishBlock(b); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			waitTip(t, 20*time.Second, b, nodes...)
		}
	}
	waitTip(t, 20*time.Second, blocks[5], nodes...)

	var tx *chain.Tx
	withGen(func(g *chaintest.Generator) { tx = g.SpendAll(g.Coinbase(blocks[0].Hash()), 1000) })
	last := nodes[len(nodes)-1]
	if err := last.pool.Accept(tx, "rpc"); err != nil {
		t.Fatal(err)
	}
	if err := last.node.PublishTx(tx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "transaction at every node", func() bool {
		for _, n := range nodes {
			if !n.pool.has(tx.TxID()) {
				return false
			}
		}
		return true
	})
}

func TestGossipLine(t *testing.T) {
	t.Parallel()
	nodes := gossipNodes(t, 5)
	for i := 1; i < len(nodes); i++ {
		nodes[i].keep(nodes[i-1])
	}
	checkPropagation(t, nodes, func(i int) []*testNode {
		var nb []*testNode
		if i > 0 {
			nb = append(nb, nodes[i-1])
		}
		if i < len(nodes)-1 {
			nb = append(nb, nodes[i+1])
		}
		return nb
	})
}

func TestGossipMesh(t *testing.T) {
	t.Parallel()
	nodes := gossipNodes(t, 5)
	for i := range nodes {
		for j := 0; j < i; j++ {
			nodes[i].keep(nodes[j])
		}
	}
	checkPropagation(t, nodes, func(i int) []*testNode {
		var nb []*testNode
		for j, n := range nodes {
			if j != i {
				nb = append(nb, n)
			}
		}
		return nb
	})
}

// TestValidatorVerdicts calls the validators directly: accepted, known,
// orphaned, local, repeated and invalid messages.
func TestValidatorVerdicts(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, nil)
	blocks := mainBlocks(3)
	from := randomPeer(t)
	msg := func(data []byte, local bool) *pubsub.Message {
		m := &pubsub.Message{Message: &pb.Message{Data: data}, ReceivedFrom: from}
		if local {
			m.ValidatorData = localPublish{}
		}
		return m
	}
	ctx := context.Background()
	check := func(name string, got, want pubsub.ValidationResult) {
		t.Helper()
		if got != want {
			t.Errorf("%s: verdict %v, want %v", name, got, want)
		}
	}
	check("new block", a.node.validateBlock(ctx, from, msg(blocks[0].Encode(), false)), pubsub.ValidationAccept)
	check("same message again", a.node.validateBlock(ctx, from, msg(blocks[0].Encode(), false)), pubsub.ValidationIgnore)
	check("orphan", a.node.validateBlock(ctx, from, msg(blocks[2].Encode(), false)), pubsub.ValidationIgnore)
	check("known block", a.node.validateBlock(ctx, from, msg(blocks[2].Encode(), false)), pubsub.ValidationIgnore)
	check("local publish", a.node.validateBlock(ctx, a.node.ID(), msg(blocks[1].Encode(), true)), pubsub.ValidationAccept)
	if a.node.IsBanned(from) {
		t.Fatal("peer banned for useful or harmless blocks")
	}
	junk := []byte("junk")
	check("junk", a.node.validateBlock(ctx, from, msg(junk, false)), pubsub.ValidationReject)
	check("junk again", a.node.validateBlock(ctx, from, msg(junk, false)), pubsub.ValidationReject)
	if !a.node.IsBanned(from) {
		t.Error("junk went unpunished")
	}

	var tx *chain.Tx
	withGen(func(g *chaintest.Generator) { tx = g.SpendAll(g.Coinbase(blocks[0].Hash()), 700) })
	check("new transaction", a.node.validateTx(ctx, from, msg(txMessage(tx), false)), pubsub.ValidationAccept)
	check("transaction again", a.node.validateTx(ctx, from, msg(txMessage(tx), false)), pubsub.ValidationIgnore)
}

func TestPublishTooLarge(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, nil)
	tx := &chain.Tx{Version: 1, Inputs: []chain.TxIn{{Witness: [][]byte{make([]byte, chain.MaxBlockSize)}}}}
	if err := a.node.PublishTx(tx); !errors.Is(err, errMessageTooLarge) {
		t.Errorf("publishing a %d-byte transaction: %v", tx.SerializeSize(), err)
	}
}

// validateWaiting starts validating b, whose parent tn lacks, as the block
// validator does (waiting for the parent, then processing), with a parent
// wait only a wake-up can end within a test. It returns once the validation
// waits, with the channel its result will come on.
func validateWaiting(t *testing.T, tn *testNode, b *chain.Block) <-chan blockchain.ProcessResult {
	t.Helper()
	child := b.Hash()
	saved := orphanWait
	orphanWait = time.Hour
	t.Cleanup(func() { orphanWait = saved })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	result := make(chan blockchain.ProcessResult, 1)
	go func() {
		end := tn.node.beginValidation(ctx, child, b.Header.PrevBlock)
		res, _ := tn.chain.ProcessBlock(b)
		end()
		result <- res
	}()
	waitFor(t, 10*time.Second, "the child's validation to start", func() bool {
		tn.node.mu.Lock()
		defer tn.node.mu.Unlock()
		return tn.node.validating[child] != nil
	})
	return result
}

// checkConnected waits for a validation's result and checks the block joined
// the main chain.
func checkConnected(t *testing.T, result <-chan blockchain.ProcessResult) {
	t.Helper()
	select {
	case res := <-result:
		if !res.MainChain {
			t.Fatalf("child went on before its parent's body: %+v", res)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the child still waits for a parent the chain has connected")
	}
}

// A gossiped block waiting for its parent goes on as soon as the parent joins
// the chain by another path (sync, RPC), not when the wait runs out: a block
// relayed while its parent came by sync used to sit out the whole wait.
func TestWaitingBlockWokenByParentFromSync(t *testing.T) {
	tn := newTestNode(t, nil)
	blocks := mainBlocks(2)
	result := validateWaiting(t, tn, blocks[1])
	tn.process(blocks[0]) // as sync or submitblock would
	checkConnected(t, result)
}

// A parent known only by its header (headers-first sync got there first) is
// still waited for: going on at once would store the child off the main chain,
// and a child not on the main chain is not relayed.
func TestWaitingBlockWaitsForParentBody(t *testing.T) {
	tn := newTestNode(t, nil)
	blocks := mainBlocks(2)
	if err := tn.chain.AcceptHeaders([]chain.Header{blocks[0].Header}); err != nil {
		t.Fatal(err)
	}
	result := validateWaiting(t, tn, blocks[1])
	tn.process(blocks[0])
	checkConnected(t, result)
}

func TestSeenSetBounded(t *testing.T) {
	s := newSeenSet(3)
	for _, id := range []string{"a", "b", "c", "d"} {
		s.add(id, 1)
	}
	if _, ok := s.get("a"); ok {
		t.Error("oldest id kept past the bound")
	}
	for _, id := range []string{"b", "c", "d"} {
		if _, ok := s.get(id); !ok {
			t.Errorf("id %s forgotten", id)
		}
	}
	if len(s.m) != 3 {
		t.Errorf("set holds %d ids, bound 3", len(s.m))
	}
}
