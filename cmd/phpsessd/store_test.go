package main

import (
	"github.com/phpsessd/phpsessd/handler"
	"github.com/phpsessd/phpsessd/pgsess"
	"github.com/phpsessd/phpsessd/serverset"
)

// The store the daemon builds, a set of servers, has every optional ability of a
// handler.Store and what serve needs; each server's store is what a set takes.
var (
	_ interface {
		daemonStore
		handler.Collector
		handler.StatusReporter
		handler.Resetter
		handler.Inspector
		handler.Placer
		handler.Lister
		collector
		inspector
		lister
	} = (*serverset.Set)(nil)
	_ serverset.Store = (*pgsess.Store)(nil)
)
