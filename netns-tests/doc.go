// Package netnstests holds the project's end-to-end tests: real tunnel
// endpoints in network namespaces built by netlab, real TUN devices, real
// traffic. It has no code outside its tests; they need root and skip
// without it (and fail when CI=true).
//
// Every test calls t.Parallel (each lab has namespaces of its own) except
// TestS2STokenGoneKeepsTunnels, which sets SOFTHSM2_CONF for the process.
// The package's wall time is bound by its longest test,
// TestS2SCertificateRenewal (13-14 min of waiting for certificates to
// age), so it must be among the first to get a -parallel slot. When the
// sequential tests are done, the testing package wakes the paused parallel
// tests all at once, and the first to reach a free slot run first: in
// practice (seen with go1.26 and -race) the last ones paused, that is the
// last tests of the last file, are among the first few. The renewal test
// therefore lives in zz_s2s_renewal_test.go, which sorts after every other
// file.
package netnstests
