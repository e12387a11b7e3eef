package pgsess

import (
	"context"
	"fmt"
	"strings"
)

// The decoded column (Options.Decode): sess_decoded, a jsonb copy of the session's data
// as Options.Decode renders it, kept beside sess_data by every statement that changes
// sess_data (see newStatements), so that plain SQL can find sessions by what they hold.

// decode renders data for the decoded column: nil (NULL) without Options.Decode, for
// empty data, and when Decode fails (counted).
func (s *Store) decode(data []byte) *string {
	if s.opts.Decode == nil || len(data) == 0 {
		return nil
	}
	b, err := s.opts.Decode(data)
	if err != nil {
		s.decodeFailures.Add(1)
		return nil
	}
	j := string(b)
	return &j
}

// DecodeFailures counts the writes since the store opened whose data did not decode:
// their rows hold sess_data as sent and a NULL sess_decoded.
func (s *Store) DecodeFailures() uint64 { return s.decodeFailures.Load() }

// initDecoded makes sure the table has the decoded column: added (with its index) under
// CreateTable, else an error naming the statements to run.
func (s *Store) initDecoded(ctx context.Context) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, s.sql.decodedExists, s.table).Scan(&exists); err != nil {
		return s.wrap(err)
	}
	if exists {
		return nil
	}
	if !s.opts.CreateTable {
		return fmt.Errorf("pgsess: table %s has no sess_decoded column, which session_pgsql.decoded_column = on needs, "+
			"and session_pgsql.create_table is off: run %s; or set session_pgsql.decoded_column = off",
			s.opts.Table, strings.ReplaceAll(s.sql.addDecoded, "\n", " "))
	}
	if err := s.migrate(ctx, s.sql.addDecoded); err != nil {
		return err
	}
	s.log.Info().Str("table", s.opts.Table).Msg("added the decoded column sess_decoded and its index")
	return nil
}

// backfillPage is how many rows Backfill reads and writes in one statement each.
const backfillPage = 500

// Backfill fills the decoded column of the rows written before it existed (or while it
// was off), page by page in id order, each page one short UPDATE (no long lock on the
// table); a row written meanwhile keeps what its write stored. progress, when set, is
// called after each page with the rows filled and the rows whose data did not decode
// so far. It returns the same two counts.
func (s *Store) Backfill(ctx context.Context, progress func(filled, failed int64)) (filled, failed int64, err error) {
	if !s.sql.decoded {
		return 0, 0, fmt.Errorf("pgsess: Backfill needs session_pgsql.decoded_column = on")
	}
	if err := s.init(ctx); err != nil {
		return 0, 0, err
	}
	after := ""
	for {
		var ids, data []string
		err := s.try(ctx, ifLost, func() error {
			ids, data = ids[:0], data[:0]
			rows, err := s.pool.Query(ctx, s.sql.backfillRead, after, backfillPage)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, d string
				if err := rows.Scan(&id, &d); err != nil {
					return err
				}
				ids, data = append(ids, id), append(data, d)
			}
			return rows.Err()
		})
		if err != nil {
			return filled, failed, s.wrap(err)
		}
		if len(ids) == 0 {
			return filled, failed, nil
		}
		var okIDs, okData, decoded []string // the rows that decode
		for i, d := range data {
			b, err := s.opts.Decode(decodeText(d))
			if err != nil {
				failed++
				continue
			}
			okIDs, okData, decoded = append(okIDs, ids[i]), append(okData, d), append(decoded, string(b))
		}
		var n int64
		// Repeating it is harmless: it fills only what is still empty.
		err = s.try(ctx, ifLost, func() error {
			tag, err := s.pool.Exec(ctx, s.sql.backfillWrite, okIDs, okData, decoded)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return filled, failed, s.wrap(err)
		}
		filled += n
		if progress != nil {
			progress(filled, failed)
		}
		if len(ids) < backfillPage {
			return filled, failed, nil
		}
		after = ids[len(ids)-1]
	}
}
