// Package netnstests holds the project's end-to-end tests: real tunnel
// endpoints in network namespaces built by netlab, real TUN devices, real
// traffic. It has no code outside its tests; they need root and skip
// without it (and fail when CI=true).
package netnstests
