// Package pow owns Quarry's proof-of-work arithmetic: compact difficulty bits and the
// 256-bit targets they encode, the work a block contributes to its chain, the
// proof-of-work check of a header hash, difficulty retargeting, and the parallel
// nonce search the miner runs, with its hashing kernels (SHA-NI, AVX-512, AVX2,
// both SHA-NI and AVX-512 at once, ARMv8 SHA-2, portable Go) and the timing that
// picks the fastest this CPU runs (kernelchoice.go).
//
// Hashes are handled as 32-byte arrays in internal byte order (as SHA-256 produces
// them); they compare as little-endian 256-bit numbers, as in Bitcoin.
package pow
