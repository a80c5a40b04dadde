package wallet

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// BenchmarkBuildSend100Inputs: choosing, building and signing a send that
// needs 100 of a wallet's 10,000 outputs (in process; the node's part is
// measured by the RPC benchmarks).
func BenchmarkBuildSend100Inputs(b *testing.B) {
	f := newSendFixture()
	utxos := make([]UTXO, 10_000)
	for i := range utxos {
		utxos[i] = f.utxo(i, chain.Coin)
	}
	for b.Loop() {
		s, err := BuildSend(f.request(99*chain.Coin+chain.Coin/2, 2, utxos...))
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Tx.Inputs) != 100 {
			b.Fatalf("%d inputs", len(s.Tx.Inputs))
		}
	}
}
