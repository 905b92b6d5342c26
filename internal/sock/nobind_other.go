//go:build !linux

package sock

// bindNoPort has no portable equivalent: elsewhere bind(2) reserves a port
// per source address, which is what package net does anyway.
func bindNoPort(fd int, network string) error { return nil }

// socketFamilyType and netDefaults ask Linux's kernel (SO_DOMAIN);
// elsewhere narration names the family from the network.
func socketFamilyType(int) string { return "" }
func netDefaults(int) []string    { return nil }
