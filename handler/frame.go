package handler

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Op is a request's operation code (docs/PROTOCOL.md, "Operations").
type Op uint8

// The operations of protocol version 1.
const (
	OpHello           Op = 1
	OpRead            Op = 2
	OpWrite           Op = 3
	OpUpdateTimestamp Op = 4
	OpClose           Op = 5
	OpDestroy         Op = 6
	OpGC              Op = 7
	OpValidateID      Op = 8
	OpStatus          Op = 9
	OpReset           Op = 10
	OpInfo            Op = 11
	OpReadUnlocked    Op = 12
	OpEndSessions     Op = 13
)

// fieldCount is how many fields each operation's request carries.
var fieldCount = map[Op]int{
	OpHello: 4, OpRead: 1, OpWrite: 7, OpUpdateTimestamp: 1, OpClose: 0, OpDestroy: 1,
	OpGC: 1, OpValidateID: 1, OpStatus: 0, OpReset: 0, OpInfo: 1, OpReadUnlocked: 1, OpEndSessions: 1,
}

// maxFields bounds the fields a request may carry before the operation is known, so a
// hostile frame cannot make the parser allocate more than a few slice headers.
const maxFields = 8

func (op Op) String() string {
	names := [...]string{"", "HELLO", "READ", "WRITE", "UPDATE_TIMESTAMP", "CLOSE", "DESTROY",
		"GC", "VALIDATE_ID", "STATUS", "RESET", "INFO", "READ_UNLOCKED", "END_SESSIONS"}
	if int(op) < len(names) && op != 0 {
		return names[op]
	}
	return fmt.Sprintf("op(%d)", uint8(op))
}

// Status is a reply's status code (docs/PROTOCOL.md, "Status codes").
type Status uint16

// The status codes of protocol version 1.
const (
	StatusOK               Status = 0
	StatusBadFrame         Status = 1
	StatusFrameTooLarge    Status = 2
	StatusUnknownOp        Status = 3
	StatusBadVersion       Status = 4
	StatusAuthFailed       Status = 5
	StatusNotAuthenticated Status = 6
	StatusInvalidID        Status = 7
	StatusLockTimeout      Status = 8
	StatusDBUnavailable    Status = 9
	StatusCancelled        Status = 10
	StatusBadRequest       Status = 11
	StatusShuttingDown     Status = 12
	StatusLockLost         Status = 13
	StatusTooManyClients   Status = 14
	StatusInternal         Status = 99
)

// closesConn reports whether the daemon closes the connection after replying with s.
func (s Status) closesConn() bool {
	switch s {
	case StatusBadFrame, StatusFrameTooLarge, StatusBadVersion, StatusAuthFailed,
		StatusNotAuthenticated, StatusShuttingDown, StatusTooManyClients:
		return true
	}
	return false
}

// Request is one decoded request frame.
type Request struct {
	Op     Op
	ID     uint32
	Fields [][]byte // sub-slices of the frame's payload
}

// Reply is one reply frame.
type Reply struct {
	Status Status
	ID     uint32
	Fields [][]byte
}

// FrameError is a frame the daemon cannot read. It is answered with Status and the
// connection is closed, since the stream cannot be resynchronised.
type FrameError struct {
	Status Status
	Msg    string
	// ID is the request id of an oversize frame, read from its header so the error
	// reply can carry it; 0 when unknown.
	ID uint32
}

func (e *FrameError) Error() string { return e.Msg }

const (
	lenSize           = 4
	requestHeaderSize = 1 + 4
	replyHeaderSize   = 2 + 4
)

// ReadFrame reads one length-prefixed frame from r and returns its payload. A length
// above max returns a *FrameError with StatusFrameTooLarge before anything of the
// payload is read or allocated; a stream that ends inside a frame returns a *FrameError
// with StatusBadFrame; a stream that ends cleanly between frames returns io.EOF.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	var hdr [lenSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &FrameError{Status: StatusBadFrame, Msg: "truncated frame length"}
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(max) {
		fe := &FrameError{Status: StatusFrameTooLarge, Msg: fmt.Sprintf("frame of %d bytes exceeds the maximum of %d", n, max)}
		var head [requestHeaderSize]byte
		if _, err := io.ReadFull(r, head[:]); err == nil {
			fe.ID = binary.BigEndian.Uint32(head[1:])
		}
		return nil, fe
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &FrameError{Status: StatusBadFrame, Msg: fmt.Sprintf("truncated frame: expected %d bytes", n)}
		}
		return nil, err
	}
	return payload, nil
}

// ParseRequest decodes a request payload. The returned fields alias payload.
func ParseRequest(payload []byte) (Request, error) {
	if len(payload) < requestHeaderSize {
		return Request{}, &FrameError{Status: StatusBadFrame, Msg: fmt.Sprintf("request of %d bytes is shorter than its %d-byte header", len(payload), requestHeaderSize)}
	}
	req := Request{Op: Op(payload[0]), ID: binary.BigEndian.Uint32(payload[1:5])}
	rest := payload[requestHeaderSize:]
	for len(rest) > 0 {
		if len(req.Fields) == maxFields {
			return req, &FrameError{Status: StatusBadFrame, Msg: fmt.Sprintf("more than %d fields", maxFields)}
		}
		if len(rest) < lenSize {
			return req, &FrameError{Status: StatusBadFrame, Msg: fmt.Sprintf("truncated field size at offset %d", len(payload)-len(rest))}
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[lenSize:]
		if uint64(n) > uint64(len(rest)) {
			return req, &FrameError{Status: StatusBadFrame, Msg: fmt.Sprintf("field of %d bytes overruns the frame at offset %d", n, len(payload)-len(rest))}
		}
		req.Fields = append(req.Fields, rest[:n:n])
		rest = rest[n:]
	}
	return req, nil
}

// AppendRequest appends req as a complete frame to dst. It is the client side of
// ParseRequest.
func AppendRequest(dst []byte, req Request) []byte {
	size := requestHeaderSize
	for _, f := range req.Fields {
		size += lenSize + len(f)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	dst = append(dst, byte(req.Op))
	dst = binary.BigEndian.AppendUint32(dst, req.ID)
	return appendFields(dst, req.Fields)
}

// AppendReply appends rep as a complete frame to dst.
func AppendReply(dst []byte, rep Reply) []byte {
	size := replyHeaderSize
	for _, f := range rep.Fields {
		size += lenSize + len(f)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	dst = binary.BigEndian.AppendUint16(dst, uint16(rep.Status))
	dst = binary.BigEndian.AppendUint32(dst, rep.ID)
	return appendFields(dst, rep.Fields)
}

// ParseReply decodes a reply payload. The returned fields alias payload.
func ParseReply(payload []byte) (Reply, error) {
	if len(payload) < replyHeaderSize {
		return Reply{}, fmt.Errorf("reply of %d bytes is shorter than its header", len(payload))
	}
	rep := Reply{Status: Status(binary.BigEndian.Uint16(payload)), ID: binary.BigEndian.Uint32(payload[2:6])}
	rest := payload[replyHeaderSize:]
	for len(rest) > 0 {
		if len(rest) < lenSize {
			return rep, errors.New("truncated field size in reply")
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[lenSize:]
		if uint64(n) > uint64(len(rest)) {
			return rep, errors.New("field overruns the reply")
		}
		rep.Fields = append(rep.Fields, rest[:n:n])
		rest = rest[n:]
	}
	return rep, nil
}

func appendFields(dst []byte, fields [][]byte) []byte {
	for _, f := range fields {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f)))
		dst = append(dst, f...)
	}
	return dst
}
