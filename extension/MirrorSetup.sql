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
CREATE INDEX IF NOT EXISTS "Pending_XID_idx" ON "Pending" ("XID");

-- The encoded rows of a change (docs/FORMAT.md): the old key ("IsKey") of an
-- update or delete, the new row of an insert or update.
CREATE TABLE IF NOT EXISTS "PendingData" (
    "SeqId" bigint  NOT NULL,
    "IsKey" boolean NOT NULL,
    "Data"  text    NOT NULL,
    PRIMARY KEY ("SeqId", "IsKey")
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

COMMIT;
