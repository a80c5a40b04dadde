package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/indexers"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/rpc/methods"
)

// Page sizes: every list the interface shows is cut into pages of these.
const (
	blocksPerPage   = 25
	txsPerPage      = 50
	ioPerPage       = 100 // a transaction's inputs or outputs
	addressPerPage  = 50
	mempoolPerPage  = 50
	recentBlocks    = 30 // the dashboard's charts
	maxFeeResolving = 1000
)

// blockSummary is what lists and charts show of a block; it never changes
// for a given hash, so it is cached by hash.
type blockSummary struct {
	Hash       chain.Hash
	Height     int32
	Time       int64
	NTx        int
	Size       int
	Reward     uint64 // what the coinbase claims
	Fees       uint64 // the reward above the subsidy
	Difficulty float64
	Bits       uint32
}

func (s *Server) summarize(info blockchain.BlockInfo) (blockSummary, error) {
	if b, ok := s.cache.blockSummary(info.Hash); ok {
		return b, nil
	}
	b, err := s.cfg.Chain.BlockByHash(info.Hash)
	if err != nil {
		return blockSummary{}, fmt.Errorf("read block %s: %w", info.Hash, err)
	}
	sum := blockSummary{Hash: info.Hash, Height: info.Height, Time: int64(info.Header.Time), NTx: len(b.Txs),
		Size: b.SerializeSize(), Bits: info.Header.Bits, Difficulty: methods.Difficulty(info.Header.Bits, s.params)}
	if len(b.Txs) > 0 {
		sum.Reward, _ = b.Txs[0].TotalOut()
		if sub := s.params.Subsidy(info.Height); sum.Reward > sub {
			sum.Fees = sum.Reward - sub
		}
	}
	s.cache.keepBlockSummary(sum)
	return sum, nil
}

// mainChainBlocks summarises the main-chain blocks from height top down, at
// most n of them, newest first.
func (s *Server) mainChainBlocks(ctx context.Context, top int32, n int) ([]blockSummary, error) {
	var out []blockSummary
	for h := top; h >= 0 && len(out) < n; h-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hash, err := s.cfg.Chain.BlockHashByHeight(h)
		if err != nil {
			return nil, err
		}
		info, err := s.cfg.Chain.BlockInfo(hash)
		if err != nil {
			return nil, err
		}
		sum, err := s.summarize(info)
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

// chainStatus is the dashboard's headline figures, from Core's own methods.
type chainStatus struct {
	Chain                string  `json:"chain"`
	Blocks               int32   `json:"blocks"`
	Headers              int32   `json:"headers"`
	Difficulty           float64 `json:"difficulty"`
	InitialBlockDownload bool    `json:"initialblockdownload"`
	HashRate             float64 `json:"-"`
}

func (s *Server) chainStatus(ctx context.Context) (chainStatus, error) {
	var st chainStatus
	raw, err := s.cfg.RPC.Call(ctx, "getblockchaininfo", nil)
	if err == nil {
		err = json.Unmarshal(raw, &st)
	}
	if err != nil {
		return st, fmt.Errorf("getblockchaininfo: %w", err)
	}
	if raw, err = s.cfg.RPC.Call(ctx, "getnetworkhashps", nil); err == nil {
		err = json.Unmarshal(raw, &st.HashRate)
	}
	if err != nil {
		return st, fmt.Errorf("getnetworkhashps: %w", err)
	}
	return st, nil
}

// poolEntries is the mempool, sorted by fee rate, highest first; it is copied
// out of the pool at most once a second.
func (s *Server) poolEntries() ([]mempool.Entry, error) {
	return cached(s.cache, "mempool", time.Second, func() ([]mempool.Entry, error) {
		entries := s.cfg.Mempool.Entries()
		slices.SortFunc(entries, byFeeRateDesc)
		return entries, nil
	})
}

// byFeeRateDesc orders a before b when a pays more per byte: a.Fee/a.Size
// against b.Fee/b.Size without division, the products taken in 128 bits,
// since a fee in base units times a size overflows 64.
func byFeeRateDesc(a, b mempool.Entry) int {
	ahi, alo := bits.Mul64(a.Fee, uint64(b.Size))
	bhi, blo := bits.Mul64(b.Fee, uint64(a.Size))
	if c := cmp.Compare(bhi, ahi); c != 0 {
		return c
	}
	return cmp.Compare(blo, alo)
}

// addressData is what the address index holds for an address, newest first.
type addressData struct {
	Address string
	Balance uint64 // confirmed, immature coinbase outputs included
	Utxos   []indexers.AddressUtxo
	Txs     []indexers.AddressTx
	// tooLong is the refusal of a history over MaxAddressTxs, kept as an
	// answer is: asking again reads nothing until the tip moves, where an
	// uncached refusal would read MaxAddressTxs records at every request.
	tooLong error
}

var errBadAddress = errors.New("not an address of this network")

// address reads an address's outputs and history once per tip; pages are
// slices of that.
func (s *Server) address(addr string) (*addressData, error) {
	pkh, err := s.params.DecodeAddress(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadAddress, err)
	}
	d, err := cachedCost(s.cache, "addr:"+addr, 0, func() (*addressData, int, error) {
		utxos, txs, err := s.cfg.AddrIndex.UtxosAndTxIDs(pkh, s.cfg.MaxAddressTxs)
		if errors.Is(err, indexers.ErrHistoryTooLong) {
			return &addressData{Address: addr, tooLong: fmt.Errorf("address index: %w", err)}, 1, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("address index: %w", err)
		}
		d := &addressData{Address: addr, Utxos: utxos, Txs: txs}
		// The index lists both oldest first.
		slices.Reverse(d.Utxos)
		slices.Reverse(d.Txs)
		for _, u := range utxos {
			d.Balance += u.Value
		}
		return d, len(utxos) + len(txs), nil
	})
	if err == nil && d.tooLong != nil {
		return nil, d.tooLong
	}
	return d, err
}

// pageOf returns the page'th slice of size items of list, and whether more follow.
func pageOf[T any](list []T, page, size int) ([]T, bool) {
	start := min(page*size, len(list))
	end := min(start+size, len(list))
	return list[start:end], end < len(list)
}
