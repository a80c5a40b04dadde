package wallet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"

	"github.com/quarrychain/quarry/chain"
)

// The 24-word English vectors of BIP39's reference implementation
// (github.com/trezor/python-mnemonic, vectors.json), passphrase "TREZOR":
// entropy, mnemonic, seed, and the BIP32 root key of that seed.
var trezorVectors = []struct{ entropy, mnemonic, seed, xprv string }{
	{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art",
		"bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8",
		"xprv9s21ZrQH143K32qBagUJAMU2LsHg3ka7jqMcV98Y7gVeVyNStwYS3U7yVVoDZ4btbRNf4h6ibWpY22iRmXq35qgLs79f312g2kj5539ebPM",
	},
	{
		"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
		"legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth title",
		"bc09fca1804f7e69da93c2f2028eb238c227f2e9dda30cd63699232578480a4021b146ad717fbb7e451ce9eb835f43620bf5c514db0f8add49f5d121449d3e87",
		"xprv9s21ZrQH143K3Y1sd2XVu9wtqxJRvybCfAetjUrMMco6r3v9qZTBeXiBZkS8JxWbcGJZyio8TrZtm6pkbzG8SYt1sxwNLh3Wx7to5pgiVFU",
	},
	{
		"8080808080808080808080808080808080808080808080808080808080808080",
		"letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic bless",
		"c0c519bd0e91a2ed54357d9d1ebef6f5af218a153624cf4f2da911a0ed8f7a09e2ef61af0aca007096df430022f7a2b6fb91661a9589097069720d015e4e982f",
		"xprv9s21ZrQH143K3CSnQNYC3MqAAqHwxeTLhDbhF43A4ss4ciWNmCY9zQGvAKUSqVUf2vPHBTSE1rB2pg4avopqSiLVzXEU8KziNnVPauTqLRo",
	},
	{
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote",
		"dd48c104698c30cfe2b6142103248622fb7bb0ff692eebb00089b32d22484e1613912f0a5b694407be899ffd31ed3992c456cdf60f5d4564b8ba3f05a69890ad",
		"xprv9s21ZrQH143K2WFF16X85T2QCpndrGwx6GueB72Zf3AHwHJaknRXNF37ZmDrtHrrLSHvbuRejXcnYxoZKvRquTPyp2JiNG3XcjQyzSEgqCB",
	},
	{
		"68a79eaca2324873eacc50cb9c6eca8cc68ea5d936f98787c60c7ebc74e6ce7c",
		"hamster diagram private dutch cause delay private meat slide toddler razor book happy fancy gospel tennis maple dilemma loan word shrug inflict delay length",
		"64c87cde7e12ecf6704ab95bb1408bef047c22db4cc7491c4271d170a1b213d20b385bc1588d9c7b38f1b39d415665b8a9030c9ec653d75e65f847d8fc1fc440",
		"xprv9s21ZrQH143K2XTAhys3pMNcGn261Fi5Ta2Pw8PwaVPhg3D8DWkzWQwjTJfskj8ofb81i9NP2cUNKxwjueJHHMQAnxtivTA75uUFqPFeWzk",
	},
	{
		"9f6a2878b2520799a44ef18bc7df394e7061a224d2c33cd015b157d746869863",
		"panda eyebrow bullet gorilla call smoke muffin taste mesh discover soft ostrich alcohol speed nation flash devote level hobby quick inner drive ghost inside",
		"72be8e052fc4919d2adf28d5306b5474b0069df35b02303de8c1729c9538dbb6fc2d731d5f832193cd9fb6aeecbc469594a70e3dd50811b5067f3b88b28c3e8d",
		"xprv9s21ZrQH143K2WNnKmssvZYM96VAr47iHUQUTUyUXH3sAGNjhJANddnhw3i3y3pBbRAVk5M5qUGFr4rHbEWwXgX4qrvrceifCYQJbbFDems",
	},
	{
		"066dca1a2bb7e8a1db2832148ce9933eea0f3ac9548d793112d9a95c9407efad",
		"all hour make first leader extend hole alien behind guard gospel lava path output census museum junior mass reopen famous sing advance salt reform",
		"26e975ec644423f4a4c4f4215ef09b4bd7ef924e85d1d17c4cf3f136c2863cf6df0a475045652c57eb5fb41513ca2a2d67722b77e954b4b3fc11f7590449191d",
		"xprv9s21ZrQH143K3rEfqSM4QZRVmiMuSWY9wugscmaCjYja3SbUD3KPEB1a7QXJoajyR2T1SiXU7rFVRXMV9XdYVSZe7JoUXdP4SRHTxsT1nzm",
	},
	{
		"f585c11aec520db57dd353c69554b21a89b20fb0650966fa0a9d6f74fd989d8f",
		"void come effort suffer camp survey warrior heavy shoot primary clutch crush open amazing screen patrol group space point ten exist slush involve unfold",
		"01f5bced59dec48e362f2c45b5de68b9fd6c92c6634f44d6d40aab69056506f0e35524a518034ddc1192e1dacd32c1ed3eaa3c3b131c88ed8e7e54c49a5d0998",
		"xprv9s21ZrQH143K39rnQJknpH1WEPFJrzmAqqasiDcVrNuk926oizzJDDQkdiTvNPr2FYDYzWgiMiC63YmfPAa2oPyNB23r2g7d1yiK6WpqaQS",
	},
}

func TestBIP39Vectors(t *testing.T) {
	for _, v := range trezorVectors {
		entropy, err := hex.DecodeString(v.entropy)
		if err != nil {
			t.Fatal(err)
		}
		m, err := newMnemonic(bytes.NewReader(entropy))
		if err != nil {
			t.Fatalf("entropy %s: %v", v.entropy, err)
		}
		if m != v.mnemonic {
			t.Errorf("entropy %s: mnemonic\n%s\nwant\n%s", v.entropy, m, v.mnemonic)
		}
		seed, err := Seed(m, "TREZOR")
		if err != nil {
			t.Fatalf("Seed(%q): %v", m, err)
		}
		if got := hex.EncodeToString(seed); got != v.seed {
			t.Errorf("entropy %s: seed %s, want %s", v.entropy, got, v.seed)
		}
		master, err := newMaster(seed)
		if err != nil {
			t.Fatal(err)
		}
		if got := master.String(); got != v.xprv {
			t.Errorf("entropy %s: root key %s, want %s", v.entropy, got, v.xprv)
		}
	}
}

func TestNewMnemonic(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		m, err := NewMnemonic()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(strings.Fields(m)); n != 24 {
			t.Errorf("NewMnemonic gave %d words, want 24", n)
		}
		if _, err := CheckMnemonic(m); err != nil {
			t.Errorf("NewMnemonic gave an invalid mnemonic: %v", err)
		}
		if seen[m] {
			t.Errorf("NewMnemonic repeated %q", m)
		}
		seen[m] = true
	}
	if _, err := newMnemonic(iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Error("newMnemonic succeeded without entropy")
	}
}

func TestCheckMnemonic(t *testing.T) {
	abandon := strings.Repeat("abandon ", 11)
	tests := []struct {
		in, want, wantErr string
	}{
		{abandon + "about", abandon + "about", ""},
		{"  Abandon\tABANDON  " + strings.Repeat("abandon ", 9) + "about\n", abandon + "about", ""},
		{trezorVectors[4].mnemonic, trezorVectors[4].mnemonic, ""},
		{"", "", "0 words"},
		{abandon, "", "11 words"},
		{abandon + "about about", "", "13 words"},
		{abandon + "abandon", "", "checksum does not match"},
		{abandon + "aboot", "", `word 12, "aboot", is not`},
		{strings.Replace(trezorVectors[4].mnemonic, "private", "delay", 1), "", "checksum does not match"},
	}
	for _, tt := range tests {
		got, err := CheckMnemonic(tt.in)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("CheckMnemonic(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidMnemonic) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("CheckMnemonic(%q) error %v, want ErrInvalidMnemonic containing %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestSeedNormalizesPassphrase(t *testing.T) {
	m := trezorVectors[0].mnemonic
	composed, err := Seed(m, "caf\u00e9")
	if err != nil {
		t.Fatal(err)
	}
	decomposed, err := Seed(m, "cafe\u0301")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(composed, decomposed) {
		t.Error("composed and decomposed accents give different seeds")
	}
	plain, err := Seed(m, "")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(plain, composed) {
		t.Error("the passphrase does not change the seed")
	}
	if _, err := Seed("abandon", ""); !errors.Is(err, ErrInvalidMnemonic) {
		t.Errorf("Seed of an invalid mnemonic: %v", err)
	}
}

// BIP32's test vectors 1 and 2: the extended keys at each path.
func TestBIP32Vectors(t *testing.T) {
	const h = hdkeychain.HardenedKeyStart
	tests := []struct {
		seed       string
		path       []uint32
		xpub, xprv string
	}{
		{"000102030405060708090a0b0c0d0e0f", nil,
			"xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
			"xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"},
		{"000102030405060708090a0b0c0d0e0f", []uint32{h},
			"xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
			"xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7"},
		{"000102030405060708090a0b0c0d0e0f", []uint32{h, 1},
			"xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
			"xprv9wTYmMFdV23N2TdNG573QoEsfRrWKQgWeibmLntzniatZvR9BmLnvSxqu53Kw1UmYPxLgboyZQaXwTCg8MSY3H2EU4pWcQDnRnrVA1xe8fs"},
		{"000102030405060708090a0b0c0d0e0f", []uint32{h, 1, h + 2},
			"xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
			"xprv9z4pot5VBttmtdRTWfWQmoH1taj2axGVzFqSb8C9xaxKymcFzXBDptWmT7FwuEzG3ryjH4ktypQSAewRiNMjANTtpgP4mLTj34bhnZX7UiM"},
		{"000102030405060708090a0b0c0d0e0f", []uint32{h, 1, h + 2, 2},
			"xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
			"xprvA2JDeKCSNNZky6uBCviVfJSKyQ1mDYahRjijr5idH2WwLsEd4Hsb2Tyh8RfQMuPh7f7RtyzTtdrbdqqsunu5Mm3wDvUAKRHSC34sJ7in334"},
		{"000102030405060708090a0b0c0d0e0f", []uint32{h, 1, h + 2, 2, 1000000000},
			"xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
			"xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76"},

		{"fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542", nil,
			"xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
			"xprv9s21ZrQH143K31xYSDQpPDxsXRTUcvj2iNHm5NUtrGiGG5e2DtALGdso3pGz6ssrdK4PFmM8NSpSBHNqPqm55Qn3LqFtT2emdEXVYsCzC2U"},
		{"fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542", []uint32{0},
			"xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
			"xprv9vHkqa6EV4sPZHYqZznhT2NPtPCjKuDKGY38FBWLvgaDx45zo9WQRUT3dKYnjwih2yJD9mkrocEZXo1ex8G81dwSM1fwqWpWkeS3v86pgKt"},
		{"fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542", []uint32{0, h + 2147483647},
			"xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a",
			"xprv9wSp6B7kry3Vj9m1zSnLvN3xH8RdsPP1Mh7fAaR7aRLcQMKTR2vidYEeEg2mUCTAwCd6vnxVrcjfy2kRgVsFawNzmjuHc2YmYRmagcEPdU9"},
		{"fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542", []uint32{0, h + 2147483647, 1},
			"xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon",
			"xprv9zFnWC6h2cLgpmSA46vutJzBcfJ8yaJGg8cX1e5StJh45BBciYTRXSd25UEPVuesF9yog62tGAQtHjXajPPdbRCHuWS6T8XA2ECKADdw4Ef"},
		{"fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542", []uint32{0, h + 2147483647, 1, h + 2147483646},
			"xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
			"xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc"},
		{"fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542", []uint32{0, h + 2147483647, 1, h + 2147483646, 2},
			"xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt",
			"xprvA2nrNbFZABcdryreWet9Ea4LvTJcGsqrMzxHx98MMrotbir7yrKCEXw7nadnHM8Dq38EGfSh6dqA9QWTyefMLEcBYJUuekgW4BYPJcr9E7j"},
	}
	for _, tt := range tests {
		seed, err := hex.DecodeString(tt.seed)
		if err != nil {
			t.Fatal(err)
		}
		master, err := newMaster(seed)
		if err != nil {
			t.Fatal(err)
		}
		k, err := derivePath(master, tt.path)
		if err != nil {
			t.Fatalf("seed %.8s… path %v: %v", tt.seed, tt.path, err)
		}
		if got := k.String(); got != tt.xprv {
			t.Errorf("seed %.8s… path %v: xprv %s, want %s", tt.seed, tt.path, got, tt.xprv)
		}
		pub, err := k.Neuter()
		if err != nil {
			t.Fatal(err)
		}
		if got := pub.String(); got != tt.xpub {
			t.Errorf("seed %.8s… path %v: xpub %s, want %s", tt.seed, tt.path, got, tt.xpub)
		}
	}
}

// BIP84's test vector: the keys of "abandon … about" on Bitcoin main, whose
// coin type (0) is Quarry main's. The key hashes are read from the vector's
// bc1 addresses and compared with Quarry's.
func TestBIP84Vector(t *testing.T) {
	seed, err := Seed(strings.Repeat("abandon ", 11)+"about", "")
	if err != nil {
		t.Fatal(err)
	}
	account, err := NewAccountKeys(seed, chain.MainParams)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		branch          Branch
		index           uint32
		path            string
		pubKey, address string
	}{
		{Receive, 0, "m/84'/0'/0'/0/0", "0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"},
		{Receive, 1, "m/84'/0'/0'/0/1", "03e775fd51f0dfb8cd865d9ff1cca2a158cf651fe997fdc9fee9c1d3b5e995ea77", "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"},
		{Change, 0, "m/84'/0'/0'/1/0", "03025324888e429ab8e3dbaf1f7802648b9cd01e9b418485c5fa4c1b9b5700e1a6", "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"},
	}
	for _, tt := range tests {
		k, err := account.Key(tt.branch, tt.index)
		if err != nil {
			t.Fatal(err)
		}
		if k.Path != tt.path {
			t.Errorf("path %s, want %s", k.Path, tt.path)
		}
		if got := hex.EncodeToString(k.PubKey); got != tt.pubKey {
			t.Errorf("%s: public key %s, want %s", tt.path, got, tt.pubKey)
		}
		if !bytes.Equal(k.PrivKey.PubKey().SerializeCompressed(), k.PubKey) {
			t.Errorf("%s: private key does not match the public key", tt.path)
		}
		_, data, err := bech32.Decode(tt.address)
		if err != nil {
			t.Fatal(err)
		}
		program, err := bech32.ConvertBits(data[1:], 5, 8, false)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.PubKeyHash[:], program) {
			t.Errorf("%s: key hash %x, BIP84 address has %x", tt.path, k.PubKeyHash, program)
		}
		if got, err := chain.MainParams.DecodeAddress(k.Address); err != nil || got != k.PubKeyHash {
			t.Errorf("%s: address %s decodes to %x, %v", tt.path, k.Address, got, err)
		}
		if !strings.HasPrefix(k.Address, "qry1q") {
			t.Errorf("%s: main address %s does not start qry1q", tt.path, k.Address)
		}
	}
}

func TestCoinTypeAndNetworks(t *testing.T) {
	seed, err := Seed(trezorVectors[0].mnemonic, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		params     *chain.Params
		coin       uint32
		path, hrp  string
		sameAsMain bool
	}{
		{chain.MainParams, 0, "m/84'/0'/0'/0/7", "qry1", true},
		{chain.TestnetParams, 1, "m/84'/1'/0'/0/7", "tqry1", false},
		{chain.RegtestParams, 1, "m/84'/1'/0'/0/7", "rqry1", false},
	}
	mainAccount, err := NewAccountKeys(seed, chain.MainParams)
	if err != nil {
		t.Fatal(err)
	}
	mainKey, err := mainAccount.Key(Receive, 7)
	if err != nil {
		t.Fatal(err)
	}
	var testnetHash [chain.PubKeyHashSize]byte
	for _, tt := range tests {
		if got := CoinType(tt.params); got != tt.coin {
			t.Errorf("CoinType(%s) = %d, want %d", tt.params.Name, got, tt.coin)
		}
		a, err := NewAccountKeys(seed, tt.params)
		if err != nil {
			t.Fatal(err)
		}
		k, err := a.Key(Receive, 7)
		if err != nil {
			t.Fatal(err)
		}
		if k.Path != tt.path || !strings.HasPrefix(k.Address, tt.hrp) {
			t.Errorf("%s: path %s address %s, want %s and prefix %s", tt.params.Name, k.Path, k.Address, tt.path, tt.hrp)
		}
		if (k.PubKeyHash == mainKey.PubKeyHash) != tt.sameAsMain {
			t.Errorf("%s: key equal to main's: %v", tt.params.Name, !tt.sameAsMain)
		}
		if tt.params == chain.TestnetParams {
			testnetHash = k.PubKeyHash
		} else if tt.params == chain.RegtestParams && k.PubKeyHash != testnetHash {
			t.Error("regtest and testnet keys differ; both use coin type 1")
		}
	}
	if _, err := mainAccount.Key(Receive, hdkeychain.HardenedKeyStart); err == nil {
		t.Error("Key accepted a hardened index")
	}
	if _, err := mainAccount.Key(Branch(2), 0); err == nil {
		t.Error("Key accepted branch 2")
	}
	r, err := mainAccount.Key(Receive, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := mainAccount.Key(Change, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.PubKeyHash == c.PubKeyHash {
		t.Error("receive and change key 0 are equal")
	}
}

// The account's extended public key derives the same addresses as the
// wallet's private keys, and carries the network's version bytes.
func TestAccountXPub(t *testing.T) {
	for _, p := range []*chain.Params{chain.MainParams, chain.RegtestParams} {
		seed, err := Seed("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "")
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAccountKeys(seed, p)
		if err != nil {
			t.Fatal(err)
		}
		xpub, err := hdkeychain.NewKeyFromString(a.XPub())
		if err != nil {
			t.Fatal(err)
		}
		if xpub.IsPrivate() || (p == chain.MainParams) != strings.HasPrefix(a.XPub(), "xpub") {
			t.Errorf("%s: %s", p.Name, a.XPub())
		}
		child, err := xpub.Derive(uint32(Change))
		if err == nil {
			child, err = child.Derive(3)
		}
		if err != nil {
			t.Fatal(err)
		}
		pub, err := child.ECPubKey()
		if err != nil {
			t.Fatal(err)
		}
		k, err := a.Key(Change, 3)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pub.SerializeCompressed(), k.PubKey) {
			t.Errorf("%s: the xpub derives another change key 3", p.Name)
		}
	}
}
