--
-- The capture writes to the queue in the schema of the recordchange() that
-- fired, whatever search_path says; a second queue in another schema is a
-- separate queue, and a table goes to one queue only; renaming the queue's
-- schema does not break it.
--
CREATE SCHEMA "Mirror Q";
SET search_path = "Mirror Q";
\set ECHO none
\i MirrorSetup.sql
\set ECHO all
\set ON_ERROR_STOP 0
RESET client_min_messages;
RESET search_path;

-- the queue's only indexes are BRIN: what the replayer's range queries need
SELECT c.relname AS queue_table, i.relname AS index, a.amname AS method
  FROM pg_index x
  JOIN pg_class c ON c.oid = x.indrelid
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_am a ON a.oid = i.relam
 WHERE c.relnamespace = '"Mirror Q"'::regnamespace
   AND c.relname IN ('Pending', 'PendingData')
 ORDER BY 1, 2;

CREATE TABLE to_q (id int PRIMARY KEY, v text);
CREATE TABLE to_both (id int PRIMARY KEY, v text);
SELECT "Mirror Q".dbmirror_add_table('to_q');
SELECT public.dbmirror_add_table('to_both');
-- a table is captured into one queue only
SELECT "Mirror Q".dbmirror_add_table('to_both');
SELECT tgname, tgfoid::regprocedure FROM pg_trigger
 WHERE tgrelid = 'to_both'::regclass ORDER BY tgname, 2::text;

INSERT INTO to_q VALUES (1, 'q');
INSERT INTO to_both VALUES (1, 'both');
SET search_path = pg_catalog;   -- neither queue on the path
UPDATE public.to_q SET v = 'q again';
UPDATE public.to_both SET v = 'both again';
RESET search_path;
SELECT 'Mirror Q' AS queue, p."TableName", p."Op", d."IsKey", d."Data"
  FROM "Mirror Q"."Pending" p JOIN "Mirror Q"."PendingData" d USING ("SeqId")
 ORDER BY p."SeqId", d."IsKey" DESC;
SELECT 'public' AS queue, table_name, op, key, data FROM queue;
SELECT clear_queue();

-- a renamed queue schema, written directly and by INSERT statements
ALTER SCHEMA "Mirror Q" RENAME TO "Mirror R";
INSERT INTO to_q VALUES (2, 'after the rename');
CREATE FUNCTION public.pass() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RETURN NEW;
END
$fn$;
CREATE TRIGGER pass BEFORE INSERT ON "Mirror R"."PendingData"
    FOR EACH ROW EXECUTE FUNCTION public.pass();
INSERT INTO to_q VALUES (3, 'by INSERT statements');
ALTER SCHEMA "Mirror R" RENAME TO "Mirror S";
INSERT INTO to_q VALUES (4, 'by INSERT statements, renamed again');
SELECT p."TableName", p."Op", d."Data"
  FROM "Mirror S"."Pending" p JOIN "Mirror S"."PendingData" d USING ("SeqId")
 WHERE p."SeqId" > 2
 ORDER BY p."SeqId";
SELECT count(*) AS public_queue FROM "Pending";

DROP SCHEMA "Mirror S" CASCADE;
DROP FUNCTION public.pass();
SELECT tgname FROM pg_trigger WHERE tgrelid = 'to_both'::regclass ORDER BY 1;
DROP TABLE to_q, to_both;
SELECT clear_queue();
