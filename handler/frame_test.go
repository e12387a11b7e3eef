package handler

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	req := Request{Op: OpWrite, ID: 0xdeadbeef, Fields: [][]byte{[]byte("id"), {0, 0xff, '|'}, {}, []byte("1")}}
	frame := AppendRequest(nil, req)
	payload, err := ReadFrame(bufio.NewReader(bytes.NewReader(frame)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRequest(payload)
	if err != nil {
		t.Fatal(err)
	}
	if got.Op != req.Op || got.ID != req.ID || len(got.Fields) != len(req.Fields) {
		t.Fatalf("got %+v: expected %+v", got, req)
	}
	for i := range req.Fields {
		if !bytes.Equal(got.Fields[i], req.Fields[i]) {
			t.Fatalf("field %d: got %q: expected %q", i, got.Fields[i], req.Fields[i])
		}
	}
}

func TestReadFrameRefusesOversizeBeforeAllocating(t *testing.T) {
	_, err := ReadFrame(bufio.NewReader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff})), 1<<20)
	var fe *FrameError
	if !errors.As(err, &fe) || fe.Status != StatusFrameTooLarge {
		t.Fatalf("got %v: expected FRAME_TOO_LARGE", err)
	}
}

func TestParseRequestRejectsMalformedPayloads(t *testing.T) {
	for name, payload := range map[string][]byte{
		"empty":           {},
		"short header":    {1, 0, 0},
		"short size":      {1, 0, 0, 0, 1, 0, 0},
		"overrun":         {1, 0, 0, 0, 1, 0, 0, 0, 5, 'a'},
		"too many fields": append([]byte{1, 0, 0, 0, 1}, bytes.Repeat([]byte{0, 0, 0, 0}, maxFields+1)...),
	} {
		var fe *FrameError
		if _, err := ParseRequest(payload); !errors.As(err, &fe) || fe.Status != StatusBadFrame {
			t.Errorf("%s: got %v: expected BAD_FRAME", name, err)
		}
	}
}

func TestValidIDFollowsPHPsAlphabet(t *testing.T) {
	for id, want := range map[string]bool{
		"abc": true, "A-Z,0-9": true, "": false, "a b": false, "a/b": false, "a.b": false,
		string(bytes.Repeat([]byte("a"), 256)): true, string(bytes.Repeat([]byte("a"), 257)): false,
	} {
		if got := validID([]byte(id)); got != want {
			t.Errorf("validID(%q) = %v", id, got)
		}
	}
}

// FuzzParseRequest feeds arbitrary bytes to the frame reader and parser: they must
// never panic, never accept a frame over the limit, and what they accept must
// re-encode to the same bytes.
func FuzzParseRequest(f *testing.F) {
	f.Add(AppendRequest(nil, Request{Op: OpHello, ID: 1, Fields: [][]byte{[]byte("1"), nil, []byte("PHPSESSID"), []byte("127.0.0.1")}}))
	f.Add(AppendRequest(nil, Request{Op: OpWrite, ID: 7, Fields: [][]byte{[]byte("abc"), {0, 1, 2}, nil, []byte("0"), []byte("0"), []byte("0"), nil}}))
	f.Add([]byte{0, 0, 0, 5, 9, 0, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 9, 2, 0, 0, 0, 1, 0, 0, 0, 9})
	const max = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		payload, err := ReadFrame(bufio.NewReader(bytes.NewReader(data)), max)
		if err != nil {
			return
		}
		if len(payload) > max {
			t.Fatalf("accepted a payload of %d bytes", len(payload))
		}
		req, err := ParseRequest(payload)
		if err != nil {
			return
		}
		if again := AppendRequest(nil, req); !bytes.Equal(again[4:], payload) {
			t.Fatalf("re-encoded %x: expected %x", again[4:], payload)
		}
	})
}
