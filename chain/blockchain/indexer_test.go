package blockchain_test

import (
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/indexers"
)

// prefixIndex is an index that writes nothing, under the given name and key
// prefixes.
type prefixIndex struct {
	name     string
	prefixes []byte
}

func (x prefixIndex) Name() string                                                        { return x.name }
func (x prefixIndex) KeyPrefixes() []byte                                                 { return x.prefixes }
func (prefixIndex) Version() uint32                                                       { return 1 }
func (prefixIndex) Init(*blockchain.IndexReader)                                          {}
func (prefixIndex) ConnectBlock(*blockchain.IndexBatch, *blockchain.BlockUpdate) error    { return nil }
func (prefixIndex) DisconnectBlock(*blockchain.IndexBatch, *blockchain.BlockUpdate) error { return nil }

// Open refuses indexes whose records would mix with the chain's or each
// other's (--reindex deletes an index by its prefixes, and a shared marker
// would let one index skip blocks the other applied), and leaves the stores
// closed, so that the node opens them again with the right indexes.
func TestOpenRefusesClashingIndexes(t *testing.T) {
	txIndex := indexers.NewTxIndex()
	for _, tc := range []struct {
		name    string
		indexes []blockchain.Indexer
		want    string
	}{
		{"a chain prefix", []blockchain.Indexer{prefixIndex{"utxos", []byte{'u'}}}, `index utxos: key prefix 'u' belongs to the chain state`},
		{"the meta prefix", []blockchain.Indexer{prefixIndex{"meta", []byte{'z', 'm'}}}, `index meta: key prefix 'm' belongs to the chain state`},
		{"a shared prefix", []blockchain.Indexer{txIndex, prefixIndex{"other", []byte{'t'}}}, `indexes other and txindex share key prefix 't'`},
		{"a shared name", []blockchain.Indexer{txIndex, prefixIndex{indexers.TxIndexName, []byte{'q'}}}, "two indexes named txindex"},
		{"one index twice", []blockchain.Indexer{txIndex, txIndex}, "two indexes named txindex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, Indexers: tc.indexes})
			if err == nil {
				c.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
			openIndexed(t, dir) // the failed open released both stores
		})
	}
}
