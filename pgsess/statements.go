package pgsess

import "strings"

// statements holds every SQL statement of the store, written once, for one table.
type statements struct {
	tableExists string
	migrateLock string
	createTable string
	read        string
	readMany    string // the rows of several ids, each with its sess_id first
	list        string // a page of the rows a Filter selects, each with its sess_id first
	write       string
	touch       string // touches the row, or creates it empty
	importRow   string // inserts a session with given times unless a live one has its id
	put         string // stores a row as it is, replacing the row of its id
	delete      string
	exists      string
	gcDelete    string
	gcKeep      string
	gcElect     string
	vacuum      string
	vacuumOwner string

	// For the decoded column (Options.Decode): whether the table has it, how to add it
	// and its index, and whether it is there; the statements above that change
	// sess_data change it too, and writeArgs passes its values.
	decoded       bool
	addDecoded    string
	decodedExists string
	backfillRead  string
	backfillWrite string

	// For lock_scope = cluster: a lease (owner token, expiry in milliseconds of the
	// database's clock) in two extra columns of the row.
	leaseSchema string
	addLease    string
	lockRead    string
	// Taking a lease need not wait for the disk: a lease lost in a crash only means
	// its holder's write fails with ErrLeaseLost. So lockRead runs between these.
	beginAsync   []string
	commit       string
	resetExpired string
	writeLocked  string
	touchLocked  string
	release      string
	releaseStale string
	renew        string

	// For advisory locks: see advisoryStatements.
	advisoryLockMany, advisoryUnlock, advisoryWait string
	backend, endBackend                            string
	begin, rollback                                string
}

// columns is what read and lockRead return, in Session's order.
const columns = `coalesce(sess_name, ''), coalesce(sess_data, ''),
  coalesce(sess_created, 0), coalesce(sess_modified, 0), sess_expire,
  coalesce(sess_addr_created, ''), coalesce(sess_addr_modified, ''), coalesce(sess_counter, 0),
  coalesce(sess_error, 0), coalesce(sess_warning, 0), coalesce(sess_notice, 0),
  coalesce(sess_err_message, ''), coalesce(sess_custom, '')`

// nowMS is the database's clock in milliseconds: leases are timed by one clock,
// whatever the clocks of the hosts running daemons say.
const nowMS = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`

// unlocked is true for a row no live lease holds.
const unlocked = `(sess_lock IS NULL OR sess_lock_expire < ` + nowMS + `)`

// expiredBefore is the expiry rule in SQL: the row's session expired before the Unix
// time in param, a placeholder (a NULL sess_expire never expires: the condition is
// NULL). Its Go side is Store.unexpired.
func expiredBefore(param string) string { return `sess_expire < ` + param }

// newStatements renders the statements for table, an already quoted identifier; with
// lease, garbage collection spares rows whose lease is live. Columns that old rows may
// have left NULL are read through coalesce.
func newStatements(table string, lease, decoded bool) statements {
	gcSpare := ""
	if lease {
		gcSpare = " AND " + unlocked
	}
	// The decoded column's fragments: written beside sess_data wherever that changes.
	// In write, v.decoded is the 12th array; in writeLocked, $13.
	var decodedSet, decodedCol, decodedVal, decodedLocked, decodedArray, decodedName, decodedNull string
	var decodedImportSet, decodedImportVal string // in importRow, $7
	var decodedPutSet, decodedPutVal string       // in put, $15
	if decoded {
		decodedSet, decodedCol, decodedVal = ", sess_decoded = v.decoded::jsonb", ", sess_decoded", ", v.decoded::jsonb"
		decodedLocked, decodedArray, decodedName = ", sess_decoded = $13::jsonb", ", $12::text[]", ", decoded"
		decodedNull = ", sess_decoded = NULL"
		decodedImportSet, decodedImportVal = ", sess_decoded = $7::jsonb", ", $7::jsonb"
		decodedPutSet, decodedPutVal = ", sess_decoded = $15::jsonb", ", $15::jsonb"
	}
	base := strings.Trim(strings.ReplaceAll(table, `"."`, "_"), `"`)
	r := strings.NewReplacer("{table}", table, "{index}", base+"_expire_idx", "{decodedIndex}", base+"_decoded_idx",
		"{decodedSet}", decodedSet, "{decodedCol}", decodedCol, "{decodedVal}", decodedVal,
		"{decodedLocked}", decodedLocked, "{decodedArray}", decodedArray, "{decodedName}", decodedName,
		"{decodedNull}", decodedNull, "{decodedImportSet}", decodedImportSet, "{decodedImportVal}", decodedImportVal,
		"{decodedPutSet}", decodedPutSet, "{decodedPutVal}", decodedPutVal)
	st := statements{
		tableExists: `SELECT to_regclass($1) IS NOT NULL`,
		migrateLock: `SELECT pg_advisory_xact_lock(hashtext('phpsessd schema ' || $1))`,
		createTable: r.Replace(`CREATE TABLE IF NOT EXISTS {table} (
  sess_id            text PRIMARY KEY,
  sess_name          text,
  sess_data          text,
  sess_created       integer,
  sess_modified      integer,
  sess_expire        integer,
  sess_addr_created  text,
  sess_addr_modified text,
  sess_counter       integer,
  sess_error         integer,
  sess_warning       integer,
  sess_notice        integer,
  sess_err_message   text,
  sess_custom        text);
CREATE INDEX IF NOT EXISTS "{index}" ON {table} (sess_expire)`),
		read:     r.Replace(`SELECT ` + columns + ` FROM {table} WHERE sess_id = $1 LIMIT 1`),
		readMany: r.Replace(`SELECT sess_id, ` + columns + ` FROM {table} WHERE sess_id = ANY($1::text[])`),
		// One round trip without relying on a unique index: update the row, and insert
		// it only when there was none to update.
		// Writes the rows of several sessions (arrays, one element per session) in one
		// statement, without relying on a unique index: update the rows, and insert
		// those there were none to update. The ANY condition lets the planner find the
		// rows by index whatever it estimates of the join (on a small table it would
		// scan it all, dead row versions included).
		write: r.Replace(`WITH v AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::integer[], $6::text[],
    $7::integer[], $8::integer[], $9::integer[], $10::text[], $11::text[]{decodedArray})
    AS v(id, name, data, modified, expire, addr, error, warning, notice, err_message, custom{decodedName})),
updated AS (
  UPDATE {table} AS s SET sess_name = v.name, sess_data = v.data, sess_modified = v.modified,
    sess_expire = v.expire, sess_addr_modified = v.addr, sess_counter = coalesce(s.sess_counter, 0) + 1,
    sess_error = v.error, sess_warning = v.warning, sess_notice = v.notice,
    sess_err_message = v.err_message, sess_custom = v.custom{decodedSet}
  FROM v WHERE s.sess_id = v.id AND s.sess_id = ANY($1::text[])
  RETURNING s.sess_id)
INSERT INTO {table} (sess_id, sess_name, sess_data, sess_created, sess_modified, sess_expire,
  sess_addr_created, sess_addr_modified, sess_counter,
  sess_error, sess_warning, sess_notice, sess_err_message, sess_custom{decodedCol})
SELECT v.id, v.name, v.data, v.modified, v.modified, v.expire, v.addr, v.addr, 1,
  v.error, v.warning, v.notice, v.err_message, v.custom{decodedVal}
FROM v WHERE v.id NOT IN (SELECT sess_id FROM updated)`),
		touch: r.Replace(`WITH touched AS (
  UPDATE {table} SET sess_modified = $2, sess_expire = $3, sess_addr_modified = $4,
    sess_counter = coalesce(sess_counter, 0) + 1
  WHERE sess_id = $1
  RETURNING 1)
INSERT INTO {table} (sess_id, sess_name, sess_data, sess_created, sess_modified, sess_expire,
  sess_addr_created, sess_addr_modified, sess_counter,
  sess_error, sess_warning, sess_notice, sess_err_message, sess_custom)
SELECT $1, $5, '', $2, $2, $3, $4, $4, 1, 0, 0, 0, '', ''
WHERE NOT EXISTS (SELECT FROM touched)`),
		// $1 the last id of the previous page, $2 an id prefix, $3 an address, $4 the
		// State, $5 now, $6 the page size. In byte order (COLLATE "C"), whatever the
		// database's collation, so that pages of several servers merge in Go.
		list: r.Replace(`SELECT sess_id, ` + columns + ` FROM {table}
  WHERE sess_id COLLATE "C" > $1 AND starts_with(sess_id, $2)
    AND ($3 = '' OR sess_addr_created = $3 OR sess_addr_modified = $3)
    AND CASE $4::integer WHEN 0 THEN NOT coalesce(` + expiredBefore("$5") + `, false)
      WHEN 1 THEN coalesce(` + expiredBefore("$5") + `, false) ELSE true END
  ORDER BY sess_id COLLATE "C" LIMIT $6`),
		// Replaces an expired row or inserts one where there is none, without relying
		// on a unique index; returns how many rows it wrote (0 or 1). A row whose
		// sess_expire is NULL never expires, so it stays.
		importRow: r.Replace(`WITH replaced AS (
  UPDATE {table} SET sess_name = $2, sess_data = $3{decodedImportSet}, sess_created = $4, sess_modified = $4, sess_expire = $5,
    sess_addr_created = '', sess_addr_modified = '', sess_counter = 1,
    sess_error = 0, sess_warning = 0, sess_notice = 0, sess_err_message = '', sess_custom = ''
  WHERE sess_id = $1 AND ` + expiredBefore("$6") + `
  RETURNING 1),
inserted AS (
  INSERT INTO {table} (sess_id, sess_name, sess_data, sess_created, sess_modified, sess_expire,
    sess_addr_created, sess_addr_modified, sess_counter,
    sess_error, sess_warning, sess_notice, sess_err_message, sess_custom{decodedCol})
  SELECT $1, $2, $3, $4, $4, $5, '', '', 1, 0, 0, 0, '', ''{decodedImportVal}
  WHERE NOT EXISTS (SELECT FROM {table} WHERE sess_id = $1)
  RETURNING 1)
SELECT (SELECT count(*) FROM replaced) + (SELECT count(*) FROM inserted)`),
		// Every column but a lease's, without relying on a unique index. Every parameter
		// is typed by its column in the UPDATE.
		put: r.Replace(`WITH updated AS (
  UPDATE {table} SET sess_name = $2, sess_data = $3, sess_created = $4, sess_modified = $5, sess_expire = $6,
    sess_addr_created = $7, sess_addr_modified = $8, sess_counter = $9, sess_error = $10, sess_warning = $11,
    sess_notice = $12, sess_err_message = $13, sess_custom = $14{decodedPutSet}
  WHERE sess_id = $1
  RETURNING 1)
INSERT INTO {table} (sess_id, sess_name, sess_data, sess_created, sess_modified, sess_expire,
  sess_addr_created, sess_addr_modified, sess_counter,
  sess_error, sess_warning, sess_notice, sess_err_message, sess_custom{decodedCol})
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14{decodedPutVal}
WHERE NOT EXISTS (SELECT FROM updated)`),
		delete:  r.Replace(`DELETE FROM {table} WHERE sess_id = $1`),
		decoded: decoded,
		// jsonb_path_ops: the index of @> and @? queries (WHERE sess_decoded @> '{"user": {"id": 42}}').
		addDecoded: r.Replace(`ALTER TABLE {table} ADD COLUMN IF NOT EXISTS sess_decoded jsonb;
CREATE INDEX IF NOT EXISTS "{decodedIndex}" ON {table} USING gin (sess_decoded jsonb_path_ops)`),
		decodedExists: `SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'sess_decoded' AND NOT attisdropped)`,
		// A page of rows whose decoded column is empty, and their decoded values, written
		// only where sess_data is still what was decoded.
		backfillRead: r.Replace(`SELECT sess_id, coalesce(sess_data, '') FROM {table}
  WHERE sess_id > $1 AND sess_decoded IS NULL AND coalesce(sess_data, '') <> '' ORDER BY sess_id LIMIT $2`),
		backfillWrite: r.Replace(`UPDATE {table} AS s SET sess_decoded = v.decoded::jsonb
  FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, data, decoded)
  WHERE s.sess_id = v.id AND s.sess_data = v.data AND s.sess_decoded IS NULL AND s.sess_id = ANY($1::text[])`),
		exists: r.Replace(`SELECT EXISTS (SELECT FROM {table} WHERE sess_id = $1 AND NOT coalesce(` + expiredBefore("$2") + `, false))`),
		// Garbage collection skips rows that requests hold at the moment instead of
		// waiting for them (and possibly deadlocking with a batch); the next round gets them.
		gcDelete: r.Replace(`DELETE FROM {table} WHERE sess_id IN (SELECT sess_id FROM {table}
  WHERE ` + expiredBefore("$1") + gcSpare + ` FOR UPDATE SKIP LOCKED)`),
		gcKeep: r.Replace(`UPDATE {table} SET sess_data = ''{decodedNull} WHERE sess_id IN (SELECT sess_id FROM {table}
  WHERE ` + expiredBefore("$1") + ` AND sess_data <> ''` + gcSpare + ` FOR UPDATE SKIP LOCKED)`),
		// One collector at a time across daemons; the lock ends with the transaction, so
		// it works behind PgBouncer in transaction mode.
		gcElect: `SELECT pg_try_advisory_xact_lock(hashtext('phpsessd gc ' || $1))`,
		// SKIP_LOCKED: a table another VACUUM holds is skipped with a warning (see Vacuum).
		vacuum: r.Replace(`VACUUM (ANALYZE, SKIP_LOCKED) {table}`),
		// Whether the role may vacuum the table as PostgreSQL decides it: it has the
		// privileges of the table's owner or of the database's, or from PostgreSQL 17 the
		// MAINTAIN privilege (which older servers do not know, hence the CASE).
		vacuumOwner: `SELECT current_user::text, pg_get_userbyid(c.relowner)::text,
  pg_has_role(c.relowner, 'USAGE') OR pg_has_role(d.datdba, 'USAGE') OR
  CASE WHEN current_setting('server_version_num')::int >= 170000
    THEN has_table_privilege(c.oid, 'MAINTAIN') ELSE false END
FROM pg_class c, pg_database d WHERE c.oid = to_regclass($1) AND d.datname = current_database()`,

		leaseSchema: `SELECT
  (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND NOT attisdropped
     AND attname IN ('sess_lock', 'sess_lock_expire')) = 2,
  EXISTS (SELECT FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
     WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL
       AND a.attname = 'sess_id')`,
		addLease: r.Replace(`ALTER TABLE {table} ADD COLUMN IF NOT EXISTS sess_lock text,
  ADD COLUMN IF NOT EXISTS sess_lock_expire bigint`),
		// Takes the lease and reads the row in one statement. A missing row is created
		// empty, as PHP's files handler creates the file it locks; a row whose lease
		// another owner holds is neither changed nor returned.
		lockRead: r.Replace(`INSERT INTO {table} AS s (sess_id, sess_name, sess_data, sess_created, sess_modified,
  sess_expire, sess_addr_created, sess_addr_modified, sess_counter, sess_error, sess_warning,
  sess_notice, sess_err_message, sess_custom, sess_lock, sess_lock_expire)
VALUES ($1, $2, '', $3::integer, $3::integer, $3::integer + $4::integer, $5, $5, 0, 0, 0, 0, '', '', $6, ` + nowMS + ` + $7::bigint)
ON CONFLICT (sess_id) DO UPDATE SET sess_lock = EXCLUDED.sess_lock, sess_lock_expire = EXCLUDED.sess_lock_expire
WHERE s.sess_lock IS NULL OR s.sess_lock = EXCLUDED.sess_lock OR s.sess_lock_expire < ` + nowMS + `
RETURNING ` + columns),
		beginAsync: []string{`BEGIN`, `SET LOCAL synchronous_commit = off`},
		commit:     `COMMIT`,
		resetExpired: r.Replace(`UPDATE {table} SET sess_data = ''{decodedNull}, sess_created = $3::integer, sess_modified = $3::integer,
  sess_expire = $3::integer + $4::integer, sess_addr_created = $5, sess_addr_modified = $5, sess_counter = 0,
  sess_error = 0, sess_warning = 0, sess_notice = 0, sess_err_message = '', sess_custom = ''
WHERE sess_id = $1 AND sess_lock = $2`),
		// Writes only under the writer's own lease, and ends it.
		writeLocked: r.Replace(`UPDATE {table} SET sess_name = $2, sess_data = $3, sess_modified = $4, sess_expire = $5,
  sess_addr_modified = $6, sess_counter = coalesce(sess_counter, 0) + 1,
  sess_error = $7, sess_warning = $8, sess_notice = $9, sess_err_message = $10, sess_custom = $11{decodedLocked},
  sess_lock = NULL, sess_lock_expire = NULL
WHERE sess_id = $1 AND sess_lock = $12`),
		touchLocked: r.Replace(`UPDATE {table} SET sess_modified = $2, sess_expire = $3, sess_addr_modified = $4,
  sess_counter = coalesce(sess_counter, 0) + 1, sess_lock = NULL, sess_lock_expire = NULL
WHERE sess_id = $1 AND sess_lock = $5`),
		release: r.Replace(`UPDATE {table} SET sess_lock = NULL, sess_lock_expire = NULL WHERE sess_id = $1 AND sess_lock = $2`),
		releaseStale: r.Replace(`UPDATE {table} SET sess_lock = NULL, sess_lock_expire = NULL
WHERE sess_lock LIKE $1 AND sess_lock NOT LIKE $2`),
		// Rows a write holds are skipped, not waited for: their lease ends with the write,
		// and waiting could deadlock with a batch.
		renew: r.Replace(`UPDATE {table} SET sess_lock_expire = ` + nowMS + ` + $3::bigint
WHERE sess_id IN (SELECT sess_id FROM {table} WHERE sess_id = ANY($1) AND sess_lock = ANY($2)
  FOR UPDATE SKIP LOCKED)`),
	}
	advisoryStatements(&st)
	return st
}
