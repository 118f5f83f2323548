-- MirrorSetup.sql: set up the dbmirror queue on a master database.
--
--   psql -v ON_ERROR_STOP=1 -f extension/MirrorSetup.sql DBNAME
--
-- Everything is created in the current schema (the first schema of
-- search_path, normally public); the capture trigger finds the queue in the
-- schema of its own recordchange() function. Running this file again is
-- harmless: it creates only what is missing and never touches queued rows.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

BEGIN;

-- One row per master database: lets a slave tell which master its progress
-- belongs to.
CREATE TABLE IF NOT EXISTS "MirrorMaster" (
    "MasterId"  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "CreatedAt" timestamptz NOT NULL DEFAULT now(),
    "One"       boolean NOT NULL DEFAULT true UNIQUE CHECK ("One")
);
INSERT INTO "MirrorMaster" DEFAULT VALUES ON CONFLICT DO NOTHING;

-- One row per slave. The connection string is libpq's; passwords belong in
-- the replayer's ~/.pgpass or a service file, never here.
CREATE TABLE IF NOT EXISTS "MirrorHost" (
    "MirrorHostId" serial PRIMARY KEY,
    "HostName"     text NOT NULL UNIQUE,
    "ConnInfo"     text NOT NULL DEFAULT ''
);

-- One row per captured change. "XID" is the full 64-bit id of the top-level
-- transaction; the replayer selects batches by snapshot on it.
CREATE SEQUENCE IF NOT EXISTS "Pending_SeqId_seq" AS bigint CACHE 1;
CREATE TABLE IF NOT EXISTS "Pending" (
    "SeqId"     bigint NOT NULL DEFAULT nextval('"Pending_SeqId_seq"'),
    "TableName" text   NOT NULL,
    "Op"        "char" NOT NULL,
    "XID"       xid8   NOT NULL
);
ALTER SEQUENCE "Pending_SeqId_seq" OWNED BY "Pending"."SeqId";

-- The encoded rows of a change (docs/FORMAT.md): the old key ("IsKey") of an
-- update or delete, the new row of an insert or update.
CREATE TABLE IF NOT EXISTS "PendingData" (
    "SeqId" bigint  NOT NULL,
    "IsKey" boolean NOT NULL,
    "Data"  text    NOT NULL
);

-- The queue's indexes are BRIN, not B-tree: every captured change pays for
-- every index entry, and a BRIN entry costs next to nothing to keep. Both
-- columns grow with the heap (a transaction's XID and a change's SeqId are
-- taken as it writes), so block ranges summarise tightly and the replayer's
-- range queries ("XID" from a snapshot's xmin on, "SeqId" between a batch's
-- first and last) read only the blocks that hold what they ask for; see
-- docs/DESIGN.md. xid8 has no BRIN operator class of its own: this is the
-- standard minmax one, over xid8's comparison operators.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
                   WHERE a.amname = 'brin' AND c.opcname = 'dbmirror_xid8_minmax_ops'
                     AND c.opcnamespace = (SELECT n.oid FROM pg_namespace n
                                            WHERE n.nspname = current_schema())) THEN
        CREATE OPERATOR CLASS dbmirror_xid8_minmax_ops FOR TYPE xid8 USING brin AS
            OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
            FUNCTION 1 brin_minmax_opcinfo(internal),
            FUNCTION 2 brin_minmax_add_value(internal, internal, internal, internal),
            FUNCTION 3 brin_minmax_consistent(internal, internal, internal),
            FUNCTION 4 brin_minmax_union(internal, internal, internal);
    END IF;
END
$$;
CREATE INDEX IF NOT EXISTS "Pending_XID_idx" ON "Pending"
    USING brin ("XID" dbmirror_xid8_minmax_ops)
    WITH (pages_per_range = 8, autosummarize = on);
CREATE INDEX IF NOT EXISTS "PendingData_SeqId_idx" ON "PendingData"
    USING brin ("SeqId") WITH (pages_per_range = 8, autosummarize = on);

-- Snapshots of the master the capture records every 32768th change: a
-- replayer catching up on a long backlog commits it on the slave in parts
-- that end at these, each part a state the master had (docs/DESIGN.md).
CREATE TABLE IF NOT EXISTS "PendingMark" (
    "SeqId"    bigint PRIMARY KEY,
    "Snapshot" pg_snapshot NOT NULL
);

-- What each slave has applied, kept for cleanup only: the slave's own
-- dbmirror.progress row, written in the same slave transaction as the
-- changes, is the truth. "Snapshot" is the master snapshot whose committed
-- transactions the host holds.
CREATE TABLE IF NOT EXISTS "MirroredTransaction" (
    "MirrorHostId" integer PRIMARY KEY
                   REFERENCES "MirrorHost" ON DELETE CASCADE,
    "Snapshot"     pg_snapshot NOT NULL,
    "LastXID"      xid8,
    "AppliedAt"    timestamptz NOT NULL DEFAULT now(),
    -- why the replayer stopped applying to this host, NULL while it is fine
    "LastError"    text,
    "LastErrorAt"  timestamptz
);

-- Sequences whose value the replayer carries to the slaves.
CREATE TABLE IF NOT EXISTS "MirroredSequence" (
    "SequenceName" regclass PRIMARY KEY
);

-- A new host starts at the master's current snapshot: it is sent every
-- transaction that commits after it was registered (see docs/DESIGN.md).
-- Registering by hand with INSERT INTO "MirrorHost" gets the same.
CREATE OR REPLACE FUNCTION dbmirror_host_added() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO "MirroredTransaction" ("MirrorHostId", "Snapshot")
    VALUES (NEW."MirrorHostId", pg_current_snapshot())
    ON CONFLICT ("MirrorHostId") DO NOTHING;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS "MirrorHost_added" ON "MirrorHost";
CREATE TRIGGER "MirrorHost_added" AFTER INSERT ON "MirrorHost"
    FOR EACH ROW EXECUTE FUNCTION dbmirror_host_added();

-- The capture trigger (extension/pending.c, installed as $libdir/pending).
-- It writes the queue of the schema it lives in, as the owner of "Pending",
-- so the roles that change mirrored tables need no right on the queue.
-- Attach it with dbmirror_add_table() below, or by hand:
--   CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON foo
--       FOR EACH ROW EXECUTE FUNCTION recordchange();
--   CREATE TRIGGER t_truncate AFTER TRUNCATE ON foo
--       FOR EACH STATEMENT EXECUTE FUNCTION recordchange();
CREATE OR REPLACE FUNCTION recordchange() RETURNS trigger
    AS '$libdir/pending', 'recordchange' LANGUAGE C;

-- The version of the row format the installed capture writes
-- (docs/FORMAT.md): the replayer checks it when it connects and refuses a
-- queue newer than it can read.
CREATE OR REPLACE FUNCTION dbmirror_queue_format() RETURNS integer
    AS '$libdir/pending', 'dbmirror_queue_format' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Mirror a table: attach the capture triggers and register the sequences
-- its columns own (serial and identity columns). The trigger names start
-- with "!" so they sort, and so fire, before the table's other AFTER
-- triggers: changes those make are then captured after the change that
-- caused them (see docs/FORMAT.md, "How capture stays right").
CREATE OR REPLACE FUNCTION dbmirror_add_table(tab regclass) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    capture text := pg_catalog.format('%I.recordchange()', pg_catalog.current_schema());
    kind "char";
    other name;
BEGIN
    SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid = tab;
    IF kind IS DISTINCT FROM 'r' THEN
        RAISE EXCEPTION 'cannot mirror "%"', tab
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Only ordinary tables can be mirrored.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_index i
                   WHERE i.indrelid = tab AND i.indisprimary) THEN
        RAISE EXCEPTION 'table "%" has no primary key', tab
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The slaves find the rows to update and delete by primary key.',
                  HINT = 'Add a primary key to the table.';
    END IF;
    -- any capture trigger but ours, of this queue or of another one
    SELECT t.tgname INTO other
      FROM pg_catalog.pg_trigger t
      JOIN pg_catalog.pg_proc f ON f.oid = t.tgfoid
     WHERE t.tgrelid = tab
       AND f.prosrc = 'recordchange' AND f.probin = '$libdir/pending'
       AND (f.oid IS DISTINCT FROM pg_catalog.to_regprocedure(capture)
            OR t.tgname NOT IN ('!dbmirror_capture', '!dbmirror_truncate'))
     LIMIT 1;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'table "%" already has capture trigger "%"', tab, other
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Drop that trigger first: a table is captured once, into one queue.';
    END IF;
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE TRIGGER "!dbmirror_capture" '
        'AFTER INSERT OR UPDATE OR DELETE ON %s '
        'FOR EACH ROW EXECUTE FUNCTION %s', tab, capture);
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE TRIGGER "!dbmirror_truncate" '
        'AFTER TRUNCATE ON %s '
        'FOR EACH STATEMENT EXECUTE FUNCTION %s', tab, capture);
    INSERT INTO "MirroredSequence" ("SequenceName")
    SELECT d.objid::pg_catalog.regclass
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_class s ON s.oid = d.objid
     WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refobjid = tab
       AND d.deptype IN ('a', 'i')
       AND s.relkind = 'S'
    ON CONFLICT DO NOTHING;
END
$$;

-- Stop mirroring a table: drop the triggers dbmirror_add_table() made and
-- unregister the sequences its columns own. Changes already queued stay.
CREATE OR REPLACE FUNCTION dbmirror_remove_table(tab regclass) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS "!dbmirror_capture" ON %s', tab);
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS "!dbmirror_truncate" ON %s', tab);
    DELETE FROM "MirroredSequence" m
     USING pg_catalog.pg_depend d
     WHERE d.objid = m."SequenceName"::pg_catalog.oid
       AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refobjid = tab
       AND d.deptype IN ('a', 'i');
END
$$;

-- Carry a sequence's value to the slaves.
CREATE OR REPLACE FUNCTION dbmirror_add_sequence(seq regclass) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = seq)
       IS DISTINCT FROM 'S' THEN
        RAISE EXCEPTION '"%" is not a sequence', seq
            USING ERRCODE = 'wrong_object_type';
    END IF;
    INSERT INTO "MirroredSequence" ("SequenceName") VALUES (seq)
    ON CONFLICT DO NOTHING;
END
$$;

-- Only the queue's owner (and superusers) may read or change the queue or
-- attach the capture; the capture itself writes as the owner.
REVOKE ALL ON "MirrorMaster", "MirrorHost", "Pending", "PendingData",
    "PendingMark", "MirroredTransaction", "MirroredSequence" FROM PUBLIC;
REVOKE ALL ON SEQUENCE "Pending_SeqId_seq", "MirrorHost_MirrorHostId_seq"
    FROM PUBLIC;
REVOKE ALL ON FUNCTION recordchange(), dbmirror_add_table(regclass),
    dbmirror_remove_table(regclass), dbmirror_add_sequence(regclass),
    dbmirror_host_added() FROM PUBLIC;

COMMIT;
