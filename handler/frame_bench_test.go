package handler_test

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/phpsessd/phpsessd/handler"
)

// The hot paths of every request: reading and decoding a request frame, encoding a
// reply. Run with: go test ./handler/ -run '^$' -bench . -benchmem

var sessionData = []byte(`n|i:42;payload|s:1024:"` + strings.Repeat("x", 1024) + `";`)

func writeRequest() handler.Request {
	return handler.Request{Op: handler.OpWrite, ID: 7, Fields: [][]byte{
		[]byte("0123456789abcdefghijklmnopqrstuv"), sessionData, nil, []byte("0"), []byte("0"), []byte("0"), nil,
	}}
}

func benchmarkReadParse(b *testing.B, req handler.Request) {
	frame := handler.AppendRequest(nil, req)
	src := bytes.NewReader(frame)
	r := bufio.NewReaderSize(src, 64<<10)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(frame)
		r.Reset(src)
		payload, err := handler.ReadFrame(r, 4<<20)
		if err != nil {
			b.Fatal(err)
		}
		got, err := handler.ParseRequest(payload)
		if err != nil || got.Op != req.Op {
			b.Fatal(err)
		}
	}
}

// A WRITE carrying 1 KiB of session data: the largest frame of a request.
func BenchmarkReadFrameParseRequestWrite(b *testing.B) { benchmarkReadParse(b, writeRequest()) }

// A READ: the most frequent small frame, with HELLO and CLOSE.
func BenchmarkReadFrameParseRequestRead(b *testing.B) {
	benchmarkReadParse(b, handler.Request{Op: handler.OpRead, ID: 8, Fields: [][]byte{[]byte("0123456789abcdefghijklmnopqrstuv")}})
}

// The reply to a READ: the session data and the extension's fields.
func BenchmarkAppendReplyRead(b *testing.B) {
	rep := handler.Reply{Status: handler.StatusOK, ID: 8, Fields: [][]byte{
		sessionData, nil, []byte("0"), []byte("0"), []byte("0"), nil,
	}}
	buf := handler.AppendReply(nil, rep)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = handler.AppendReply(buf[:0], rep)
	}
}

// An empty OK reply (WRITE, CLOSE).
func BenchmarkAppendReplyOK(b *testing.B) {
	rep := handler.Reply{Status: handler.StatusOK, ID: 9}
	buf := handler.AppendReply(nil, rep)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = handler.AppendReply(buf[:0], rep)
	}
}

// The client side, as the protocol benchmark and Go clients use it.
func BenchmarkAppendRequestWrite(b *testing.B) {
	req := writeRequest()
	buf := handler.AppendRequest(nil, req)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = handler.AppendRequest(buf[:0], req)
	}
}

func BenchmarkParseReplyRead(b *testing.B) {
	frame := handler.AppendReply(nil, handler.Reply{Status: handler.StatusOK, ID: 8, Fields: [][]byte{
		sessionData, nil, []byte("0"), []byte("0"), []byte("0"), nil,
	}})
	payload := frame[4:]
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := handler.ParseReply(payload); err != nil {
			b.Fatal(err)
		}
	}
}
