package handler

import (
	"context"
	"testing"
	"time"
)

func TestLockTableLeavesTheHeirToTheNextHolderOnly(t *testing.T) {
	tab := newLockTable()
	release, heir, err := tab.lock(context.Background(), "s")
	if err != nil || heir.token != "" {
		t.Fatalf("first lock: %+v %v", heir, err)
	}
	if tab.waiting("s") {
		t.Fatal("Waiting with no waiter")
	}
	got := make(chan handover)
	go func() {
		release, heir, err := tab.lock(context.Background(), "s")
		if err != nil {
			t.Error(err)
		}
		release(handover{})
		got <- heir
	}()
	for !tab.waiting("s") {
		time.Sleep(time.Millisecond)
	}
	release(handover{token: "tok", chain: 1})
	if h := <-got; h.token != "tok" || h.chain != 1 {
		t.Fatalf("the waiter inherited %+v", h)
	}
	_, heir, ok := tab.tryLock("s")
	if !ok || heir.token != "" {
		t.Fatalf("after a release that left nothing: %+v %v", heir, ok)
	}
}

func TestLockTableHandsAnUnclaimedHeirToOrphaned(t *testing.T) {
	tab := newLockTable()
	orphaned := make(chan handover, 1)
	tab.orphaned = func(id string, h handover) {
		if id != "s" {
			t.Errorf("orphaned id %q", id)
		}
		orphaned <- h
	}
	release, _, _ := tab.lock(context.Background(), "s")
	// A waiter that gives up: the heir left meanwhile has nobody to go to.
	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error)
	go func() {
		_, _, err := tab.lock(ctx, "s")
		waited <- err
	}()
	for !tab.waiting("s") {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-waited; err == nil {
		t.Fatal("a cancelled wait got the lock")
	}
	release(handover{token: "tok"})
	select {
	case h := <-orphaned:
		if h.token != "tok" {
			t.Fatalf("orphaned %+v", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the unclaimed heir never reached Orphaned")
	}
	if tab.len() != 0 {
		t.Fatalf("%d entries left", tab.len())
	}
}
