--
-- Buffered capture: changes reach the queue tables in batches, before
-- commit or prepare, when the buffer fills (1024 changes) and before a
-- statement that uses the queue tables.  Nothing may be lost, duplicated or
-- reordered; rolled-back savepoints and exception blocks drop theirs; each
-- statement sees the queue rows of the statements before it.
--
SELECT count(*) AS changes_before FROM "Pending";

-- (a) This session's first capture runs in a statement whose end was under
-- way before the capture's hooks existed: its changes are written when a
-- later statement uses the queue, and that statement sees them.  Here that first
-- statement folds changes into a change still in the buffer (the
-- self-referencing row of cascade.sql, where the nested change is logged
-- first and the two events before it merge into it).
CREATE TABLE buf_loop (id int PRIMARY KEY,
                       up int REFERENCES buf_loop ON UPDATE CASCADE,
                       v text);
INSERT INTO buf_loop VALUES (1, NULL, 'one'), (2, NULL, 'two');
UPDATE buf_loop SET up = id;
CREATE TABLE replica.buf_loop AS SELECT * FROM buf_loop;
CREATE TRIGGER zz_capture AFTER INSERT OR UPDATE OR DELETE ON buf_loop
    FOR EACH ROW EXECUTE FUNCTION recordchange();
CREATE FUNCTION buf_loop_touch() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.v = 'touch' THEN
        UPDATE buf_loop SET v = 'touched' WHERE id = NEW.id;
    ELSIF NEW.v = 'drop' THEN
        DELETE FROM buf_loop WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER a_touch AFTER UPDATE ON buf_loop
    FOR EACH ROW EXECUTE FUNCTION buf_loop_touch();
\c
BEGIN;
UPDATE buf_loop SET id = 10, v = 'touch' WHERE id = 1;
SELECT n, op, key, data FROM queue;
UPDATE buf_loop SET id = 20, v = 'drop' WHERE id = 2;
SELECT n, op, key, data FROM queue;
COMMIT;
SELECT * FROM buf_loop ORDER BY id;
SELECT replay();
SELECT same_as_replica('buf_loop');

-- (b) A statement of 1200 changes, more than the buffer holds: each change
-- once, SeqIds without gaps in row order, and every value as its type's
-- output function writes it (the capture writes integers, booleans and
-- strings without calling it).
CREATE DOMAIN buf_word AS text CHECK (VALUE <> 'forbidden');
CREATE TABLE buf_types (id int PRIMARY KEY, s int2, b int8, f boolean,
                        t text, vc varchar(20), c char(4), w buf_word,
                        ts timestamptz, x numeric);
SELECT dbmirror_add_table('buf_types');
CREATE TABLE replica.buf_types (LIKE buf_types);
INSERT INTO buf_types
SELECT g,
       CASE g % 3 WHEN 0 THEN -32768 WHEN 1 THEN 32767 ELSE g % 500 - 250 END,
       CASE g % 4 WHEN 0 THEN -9223372036854775808 WHEN 1 THEN 9223372036854775807
                  ELSE g::int8 * -1234567891 END,
       CASE g % 3 WHEN 0 THEN true WHEN 1 THEN false END,
       CASE WHEN g = 3 THEN (SELECT string_agg(md5(i::text), '\') FROM generate_series(1, 200) i)
            WHEN g = 8 THEN repeat('long '' ', 1000)
            WHEN g % 5 = 0 THEN '' WHEN g % 5 = 1 THEN 'it''s \ ü ' || g
            WHEN g % 5 = 2 THEN NULL ELSE E'\n\t"' || g END,
       'v''' || g, CASE WHEN g % 2 = 0 THEN 'c\' END, 'w' || g,
       '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 minute', g / 7.0
  FROM generate_series(1, 1200) g;
SELECT count(*) AS changes, count(DISTINCT "SeqId") AS seqids,
       max("SeqId") - min("SeqId") + 1 AS seqid_span
  FROM "Pending";
SELECT count(*) AS out_of_order
  FROM (SELECT (SELECT value FROM decode_row(data) WHERE name = 'id')::int AS id,
               n FROM queue) q
 WHERE id <> n;
-- a value as encoded, from its type's output function (which format()'s
-- %s calls)
CREATE FUNCTION buf_value(v anyelement) RETURNS text LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN v IS NULL THEN ' '
                ELSE '''' || replace(replace(format('%s', v), '''', ''''''), '\', '\\')
                     || ''' ' END
$fn$;
SET datestyle = 'ISO, YMD';    -- as the capture writes timestamps
SELECT count(*) AS rows_checked,
       count(*) FILTER (WHERE q.data <> '"id"=' || buf_value(t.id)
                                || '"s"=' || buf_value(t.s)
                                || '"b"=' || buf_value(t.b)
                                || '"f"=' || buf_value(t.f)
                                || '"t"=' || buf_value(t.t)
                                || '"vc"=' || buf_value(t.vc)
                                || '"c"=' || buf_value(t.c)
                                || '"w"=' || buf_value(t.w)
                                || '"ts"=' || buf_value(t.ts)
                                || '"x"=' || buf_value(t.x)) AS mismatched
  FROM queue q JOIN buf_types t ON t.id = q.n;
RESET datestyle;
SELECT replay();
SELECT same_as_replica('buf_types');

-- (c) Savepoints around bulk statements: a rolled-back one takes all its
-- changes, written or still buffered; a released one keeps them.  Then a
-- trigger whose exception block changes another mirrored table for every
-- row, failing for every third row, while the outer statement's changes
-- wait in the buffer.
BEGIN;
UPDATE buf_types SET x = x + 1 WHERE id <= 10;
SAVEPOINT a;
UPDATE buf_types SET s = 0;
DELETE FROM buf_types WHERE id > 1000;
ROLLBACK TO a;
SAVEPOINT b;
UPDATE buf_types SET f = NOT f WHERE id <= 1100;
RELEASE b;
SELECT count(*) AS changes_in_transaction FROM "Pending";
COMMIT;
SELECT count(*) FILTER (WHERE "Op" IN ('u', 'U')) AS updates, count(*) AS changes FROM "Pending";
SELECT replay();
SELECT same_as_replica('buf_types');

CREATE TABLE buf_audit (id int PRIMARY KEY, note text);
SELECT dbmirror_add_table('buf_audit');
CREATE TABLE replica.buf_audit (LIKE buf_audit);
CREATE FUNCTION buf_types_audit() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    BEGIN
        INSERT INTO buf_audit VALUES (NEW.id, 'saw ' || NEW.id);
        UPDATE buf_types SET s = -1 WHERE id = NEW.id + 1 AND NEW.id % 2 = 0;
        IF NEW.id % 3 = 0 THEN
            RAISE EXCEPTION 'undo';
        END IF;
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER audit AFTER UPDATE OF x ON buf_types
    FOR EACH ROW EXECUTE FUNCTION buf_types_audit();
UPDATE buf_types SET x = 0 WHERE id <= 300;
DROP TRIGGER audit ON buf_types;
SELECT count(*) AS audited, count(*) FILTER (WHERE id % 3 = 0) AS kept_of_failed
  FROM buf_audit;
-- (how many buf_types changes fold depends on the order the rows fire in)
SELECT count(*) AS audit_changes FROM "Pending" WHERE "TableName" = 'public.buf_audit';
SELECT replay();
SELECT same_as_replica('buf_types'), same_as_replica('buf_audit');

-- (d) A bulk insert into a table with a foreign key runs a check query
-- for every row; the changes stay buffered across them.
CREATE TABLE buf_child (id int PRIMARY KEY, parent int REFERENCES buf_types);
SELECT dbmirror_add_table('buf_child');
CREATE TABLE replica.buf_child (LIKE buf_child);
INSERT INTO buf_child SELECT g, g FROM generate_series(1, 300) g;
SELECT count(*) AS changes, max("SeqId") - min("SeqId") + 1 AS seqid_span FROM "Pending";
SELECT replay();
SELECT same_as_replica('buf_child');

-- (e) COPY fires its triggers outside the executor; the next statement
-- of the transaction sees its changes, also when the COPY is the session's
-- first capture.
\c
BEGIN;
COPY buf_audit FROM stdin;
5001	copied
5002	copied too
\.
SELECT n, table_name, op, data FROM queue;
COMMIT;
SELECT replay();
SELECT same_as_replica('buf_audit');

-- (f) A deferred capture trigger fires at commit, after every statement
-- end: its changes are written before the transaction commits, or
-- prepares.
CREATE TABLE buf_late (id int PRIMARY KEY, v text);
CREATE CONSTRAINT TRIGGER capture_late AFTER INSERT OR UPDATE OR DELETE ON buf_late
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION recordchange();
CREATE TABLE replica.buf_late (LIKE buf_late);
BEGIN;
INSERT INTO buf_late SELECT g, 'late' FROM generate_series(1, 1030) g;
UPDATE buf_late SET v = 'later' WHERE id <= 3;
SELECT count(*) AS before_commit FROM "Pending";
COMMIT;
SELECT "Op", count(*) FROM "Pending" GROUP BY 1 ORDER BY 1;
SELECT replay();
SELECT same_as_replica('buf_late');
BEGIN;
DELETE FROM buf_late WHERE id > 1000;
PREPARE TRANSACTION 'dbmirror_buffer_test';
SELECT count(*) AS while_prepared FROM "Pending";
COMMIT PREPARED 'dbmirror_buffer_test';
SELECT "Op", count(*) FROM "Pending" GROUP BY 1 ORDER BY 1;
SELECT replay();
SELECT same_as_replica('buf_late');

-- (g) Changes still buffered when their subtransaction ends: handed to the
-- parent when it commits (the session's first capture, made in an
-- exception block, waits in the buffer until after the block), dropped
-- when it aborts (an error among a statement's triggers, after some of its
-- rows were captured).
CREATE TABLE buf_fail (id int PRIMARY KEY);
SELECT dbmirror_add_table('buf_fail');
CREATE TABLE replica.buf_fail (LIKE buf_fail);
CREATE FUNCTION buf_fail_at_40() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.id = 40 THEN
        RAISE EXCEPTION 'row 40';
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER zz_fail AFTER INSERT ON buf_fail
    FOR EACH ROW EXECUTE FUNCTION buf_fail_at_40();
\c
DO $$
BEGIN
    BEGIN
        INSERT INTO buf_fail SELECT g FROM generate_series(1, 30) g;
    EXCEPTION WHEN division_by_zero THEN
        NULL;
    END;
    BEGIN
        INSERT INTO buf_fail SELECT g FROM generate_series(31, 50) g;
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
END
$$;
BEGIN;
SAVEPOINT s;
INSERT INTO buf_fail SELECT g FROM generate_series(51, 70) g;
\set VERBOSITY terse
INSERT INTO buf_fail SELECT g FROM generate_series(31, 50) g;
\set VERBOSITY default
ROLLBACK TO s;
INSERT INTO buf_fail SELECT g FROM generate_series(71, 75) g;
COMMIT;
SELECT count(*) AS changes, min(id), max(id)
  FROM (SELECT (SELECT value FROM decode_row(data))::int AS id FROM queue) q;
SELECT replay();
SELECT same_as_replica('buf_fail');

-- (h) A statement whose end captures into two queues writes each queue's
-- changes to that queue's tables, also when the buffer fills in between.
CREATE SCHEMA "Mirror B";
SET search_path = "Mirror B";
\set ECHO none
\i MirrorSetup.sql
\set ECHO all
\set ON_ERROR_STOP 0
RESET client_min_messages;
RESET search_path;
CREATE TABLE buf_a (id int PRIMARY KEY);
CREATE TABLE buf_b (id int PRIMARY KEY);
SELECT public.dbmirror_add_table('buf_a'), "Mirror B".dbmirror_add_table('buf_b');
WITH a AS (INSERT INTO buf_a SELECT g FROM generate_series(1, 700) g)
INSERT INTO buf_b SELECT g FROM generate_series(1, 700) g;
SELECT 'public' AS queue, p."TableName", count(*) AS changes, count(d."SeqId") AS data_rows
  FROM "Pending" p LEFT JOIN "PendingData" d USING ("SeqId") GROUP BY 2
UNION ALL
SELECT 'Mirror B', p."TableName", count(*), count(d."SeqId")
  FROM "Mirror B"."Pending" p LEFT JOIN "Mirror B"."PendingData" d USING ("SeqId") GROUP BY 2;
SET client_min_messages = warning;
DROP SCHEMA "Mirror B" CASCADE;
RESET client_min_messages;
DROP TABLE buf_a, buf_b;
SELECT clear_queue();

-- nothing left behind
SELECT count(*) AS changes_after FROM "Pending";
