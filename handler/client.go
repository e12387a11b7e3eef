package handler

import (
	"bufio"
	"net"
)

// Client is the client side of the protocol for Go programs (phpsessd end, tests): it
// writes requests on one connection, numbered in order, and reads the replies, which
// come in the order of the requests. Several Sends before their Recvs pipeline them.
// It is not safe for concurrent use.
type Client struct {
	conn net.Conn
	br   *bufio.Reader
	last uint32 // the id of the last request sent
}

// clientMaxReply bounds a reply the Client reads.
const clientMaxReply = 64 << 20

// NewClient speaks the protocol on conn, which it does not close.
func NewClient(conn net.Conn) *Client { return &Client{conn: conn, br: bufio.NewReader(conn)} }

// Send writes one request of op with fields and returns its id.
func (c *Client) Send(op Op, fields ...string) (uint32, error) {
	c.last++
	req := Request{Op: op, ID: c.last}
	for _, f := range fields {
		req.Fields = append(req.Fields, []byte(f))
	}
	_, err := c.conn.Write(AppendRequest(nil, req))
	return req.ID, err
}

// Recv reads the next reply (the conn's deadline bounds the wait).
func (c *Client) Recv() (Reply, error) {
	payload, err := ReadFrame(c.br, clientMaxReply)
	if err != nil {
		return Reply{}, err
	}
	return ParseReply(payload)
}

// Reader is the buffered reader Recv reads from, for a caller that checks what comes
// after the replies (whether the daemon closed the connection).
func (c *Client) Reader() *bufio.Reader { return c.br }
