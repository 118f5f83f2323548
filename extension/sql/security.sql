--
-- An application role that may change a mirrored table but has no right on
-- the queue: its changes are captured, yet it can neither read nor change
-- the queue, nor attach the capture to tables of its own.  A hostile
-- search_path (fake queue tables, functions and operators in a schema
-- searched before pg_catalog) redirects nothing.
--
CREATE ROLE regress_dbmirror_app NOLOGIN;
CREATE TABLE app_data (id int PRIMARY KEY, v text);
SELECT dbmirror_add_table('app_data');
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON app_data TO regress_dbmirror_app;
-- a table whose trigger "a_stamp" changes the row again before the capture
-- fires, so that capturing it folds (the statements that rewrite the queue)
CREATE TABLE app_stamped (id int PRIMARY KEY, v text, stamped boolean DEFAULT false);
CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON app_stamped
    FOR EACH ROW EXECUTE FUNCTION recordchange();
CREATE FUNCTION app_stamp() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, public AS $fn$
BEGIN
    IF NOT NEW.stamped THEN
        UPDATE app_stamped SET stamped = true WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER a_stamp AFTER INSERT OR UPDATE ON app_stamped
    FOR EACH ROW EXECUTE FUNCTION app_stamp();
GRANT SELECT, INSERT, UPDATE, DELETE ON app_stamped TO regress_dbmirror_app;
CREATE SCHEMA evil AUTHORIZATION regress_dbmirror_app;

SET ROLE regress_dbmirror_app;
INSERT INTO app_data VALUES (1, 'by the app'), (2, 'also');
UPDATE app_data SET v = 'changed by the app' WHERE id = 1;
DELETE FROM app_data WHERE id = 2;
INSERT INTO app_stamped VALUES (1, 'by the app');

-- the queue stays out of reach
SELECT count(*) FROM "Pending";
SELECT count(*) FROM "PendingData";
INSERT INTO "Pending" VALUES (-1, 'public.app_data', 'd', '1');
UPDATE "PendingData" SET "Data" = '';
DELETE FROM "Pending";
TRUNCATE "PendingData";
SELECT nextval('"Pending_SeqId_seq"');
SELECT recordchange();
-- and the capture cannot be pointed at a table of the app's own
CREATE TABLE evil.mine (id int PRIMARY KEY);
CREATE TRIGGER steal AFTER INSERT ON evil.mine
    FOR EACH ROW EXECUTE FUNCTION public.recordchange();
SELECT public.dbmirror_add_table('evil.mine');
RESET ROLE;

SELECT n, table_name, op, key, data FROM queue;
SELECT clear_queue();

-- A hostile search_path, in a new session so that the capture prepares its
-- statements under it: look-alike queue tables and sequence, a nextval()
-- and an "=" for bigint, all in a schema searched before pg_catalog.
\c -
SET ROLE regress_dbmirror_app;
CREATE TABLE evil."Pending" ("SeqId" bigint, "TableName" text, "Op" "char", "XID" xid8);
CREATE TABLE evil."PendingData" ("SeqId" bigint, "IsKey" boolean, "Data" text);
CREATE SEQUENCE evil."Pending_SeqId_seq";
CREATE FUNCTION evil.nextval(regclass) RETURNS bigint LANGUAGE sql AS 'SELECT -1::bigint';
CREATE FUNCTION evil.always(bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.always);
CREATE FUNCTION evil.always(xid8, xid8) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = xid8, RIGHTARG = xid8, FUNCTION = evil.always);
SET search_path = evil, pg_catalog, public;
INSERT INTO public.app_data VALUES (3, 'under a hostile path');
UPDATE public.app_data SET v = 'still hostile' WHERE id = 3;
INSERT INTO public.app_stamped VALUES (2, 'under a hostile path');
UPDATE public.app_stamped SET v = 'again', stamped = false WHERE id = 2;
SELECT count(*) AS fake_pending FROM evil."Pending";
SELECT count(*) AS fake_pending_data FROM evil."PendingData";
RESET search_path;
RESET ROLE;

SELECT n, table_name, op, key, data FROM queue;
SELECT bool_and("SeqId" > 0) AS real_seqids FROM "Pending";
SELECT clear_queue();

DROP SCHEMA evil CASCADE;
DROP TABLE app_data, app_stamped;
DROP FUNCTION app_stamp();
DROP ROLE regress_dbmirror_app;
