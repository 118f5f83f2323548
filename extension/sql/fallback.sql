--
-- The capture writes straight into the queue tables while they are as
-- MirrorSetup.sql made them.  When someone adds what a plain insert would
-- skip (a trigger, a CHECK constraint, an expression index), it falls back
-- to INSERT statements, which honour it, and writes the same rows.
--
CREATE TABLE plain_or_not (id int PRIMARY KEY, v text);
SELECT dbmirror_add_table('plain_or_not');
CREATE TABLE replica.plain_or_not (LIKE plain_or_not);

-- a trigger on "PendingData" sees every row the capture writes
CREATE TABLE queue_rows_seen (seqid bigint, is_key boolean);
CREATE FUNCTION note_queue_row() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO queue_rows_seen VALUES (NEW."SeqId", NEW."IsKey");
    RETURN NULL;
END
$fn$;
CREATE TRIGGER note_queue_row AFTER INSERT ON "PendingData"
    FOR EACH ROW EXECUTE FUNCTION note_queue_row();
INSERT INTO plain_or_not VALUES (1, 'through INSERT'), (2, 'too');
UPDATE plain_or_not SET v = 'changed' WHERE id = 1;
DELETE FROM plain_or_not WHERE id = 2;
SELECT count(*) AS rows_seen,
       count(*) = (SELECT count(*) FROM "PendingData") AS all_seen
  FROM queue_rows_seen;
DROP TRIGGER note_queue_row ON "PendingData";

-- a CHECK constraint is checked
ALTER TABLE "Pending" ADD CONSTRAINT no_truncate CHECK ("Op" <> 't');
\set VERBOSITY terse
TRUNCATE plain_or_not;
\set VERBOSITY default
ALTER TABLE "Pending" DROP CONSTRAINT no_truncate;

-- an expression index is filled
CREATE INDEX pending_data_length ON "PendingData" (length("Data"));
INSERT INTO plain_or_not VALUES (3, 'found by the expression index');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT "Data" FROM "PendingData" WHERE length("Data") = length($$"id"='3' "v"='found by the expression index' $$);
SELECT "Data" FROM "PendingData" WHERE length("Data") = length($$"id"='3' "v"='found by the expression index' $$);
RESET enable_seqscan;
DROP INDEX pending_data_length;

-- and back to writing directly
INSERT INTO plain_or_not VALUES (4, 'direct again');
TRUNCATE plain_or_not;
INSERT INTO plain_or_not VALUES (5, 'after the truncate');

SELECT n, op, key, data FROM queue;
SELECT replay();
SELECT same_as_replica('plain_or_not');
