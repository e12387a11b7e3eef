package pgsess

import "strings"

// statements holds every SQL statement of the store, written once, for one table.
type statements struct {
	tableExists string
	createTable string
	read        string
	write       string
	touch       string
	delete      string
	exists      string
	gcDelete    string
	gcKeep      string
}

// newStatements renders the statements for table, an already quoted identifier.
// Columns that old rows may have left NULL are read through coalesce.
func newStatements(table string) statements {
	r := strings.NewReplacer("{table}", table, "{index}", strings.Trim(strings.ReplaceAll(table, `"."`, "_"), `"`)+"_expire_idx")
	return statements{
		tableExists: `SELECT to_regclass($1) IS NOT NULL`,
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
		read: r.Replace(`SELECT coalesce(sess_name, ''), coalesce(sess_data, ''),
  coalesce(sess_created, 0), coalesce(sess_modified, 0), sess_expire,
  coalesce(sess_addr_created, ''), coalesce(sess_addr_modified, ''), coalesce(sess_counter, 0),
  coalesce(sess_error, 0), coalesce(sess_warning, 0), coalesce(sess_notice, 0),
  coalesce(sess_err_message, ''), coalesce(sess_custom, '')
FROM {table} WHERE sess_id = $1 LIMIT 1`),
		// One round trip without relying on a unique index: update the row, and insert
		// it only when there was none to update.
		write: r.Replace(`WITH updated AS (
  UPDATE {table} SET sess_name = $2, sess_data = $3, sess_modified = $4, sess_expire = $5,
    sess_addr_modified = $6, sess_counter = coalesce(sess_counter, 0) + 1,
    sess_error = $7, sess_warning = $8, sess_notice = $9, sess_err_message = $10, sess_custom = $11
  WHERE sess_id = $1
  RETURNING 1)
INSERT INTO {table} (sess_id, sess_name, sess_data, sess_created, sess_modified, sess_expire,
  sess_addr_created, sess_addr_modified, sess_counter,
  sess_error, sess_warning, sess_notice, sess_err_message, sess_custom)
SELECT $1, $2, $3, $4, $4, $5, $6, $6, 1, $7, $8, $9, $10, $11
WHERE NOT EXISTS (SELECT FROM updated)`),
		touch: r.Replace(`UPDATE {table} SET sess_modified = $2, sess_expire = $3, sess_addr_modified = $4,
  sess_counter = coalesce(sess_counter, 0) + 1
WHERE sess_id = $1`),
		delete:   r.Replace(`DELETE FROM {table} WHERE sess_id = $1`),
		exists:   r.Replace(`SELECT EXISTS (SELECT FROM {table} WHERE sess_id = $1 AND (sess_expire IS NULL OR sess_expire >= $2))`),
		gcDelete: r.Replace(`DELETE FROM {table} WHERE sess_expire < $1`),
		gcKeep:   r.Replace(`UPDATE {table} SET sess_data = '' WHERE sess_expire < $1 AND sess_data <> ''`),
	}
}
