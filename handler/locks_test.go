package handler

import (
	"context"
	"testing"
	"time"
)

func TestLockTableLeavesTheHeirToTheNextHolderOnly(t *testing.T) {
	tab := NewLockTable()
	release, heir, err := tab.Lock(context.Background(), "s")
	if err != nil || heir.Token != "" {
		t.Fatalf("first lock: %+v %v", heir, err)
	}
	if tab.Waiting("s") {
		t.Fatal("Waiting with no waiter")
	}
	got := make(chan Heir)
	go func() {
		release, heir, err := tab.Lock(context.Background(), "s")
		if err != nil {
			t.Error(err)
		}
		release(Heir{})
		got <- heir
	}()
	for !tab.Waiting("s") {
		time.Sleep(time.Millisecond)
	}
	release(Heir{Token: "tok", Chain: 1})
	if h := <-got; h.Token != "tok" || h.Chain != 1 {
		t.Fatalf("the waiter inherited %+v", h)
	}
	_, heir, ok := tab.TryLock("s")
	if !ok || heir.Token != "" {
		t.Fatalf("after a release that left nothing: %+v %v", heir, ok)
	}
}

func TestLockTableHandsAnUnclaimedHeirToOrphaned(t *testing.T) {
	tab := NewLockTable()
	orphaned := make(chan Heir, 1)
	tab.Orphaned = func(id string, h Heir) {
		if id != "s" {
			t.Errorf("orphaned id %q", id)
		}
		orphaned <- h
	}
	release, _, _ := tab.Lock(context.Background(), "s")
	// A waiter that gives up: the heir left meanwhile has nobody to go to.
	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error)
	go func() {
		_, _, err := tab.Lock(ctx, "s")
		waited <- err
	}()
	for !tab.Waiting("s") {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-waited; err == nil {
		t.Fatal("a cancelled wait got the lock")
	}
	release(Heir{Token: "tok"})
	select {
	case h := <-orphaned:
		if h.Token != "tok" {
			t.Fatalf("orphaned %+v", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the unclaimed heir never reached Orphaned")
	}
	if tab.Len() != 0 {
		t.Fatalf("%d entries left", tab.Len())
	}
}
