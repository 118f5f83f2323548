--
-- Transactions: "XID" is the top-level full xid, inside savepoints too;
-- changes of a rolled-back savepoint vanish; two-phase commit works; a
-- transaction that changes nothing mirrored leaves nothing and reading
-- forces no xid.  TRUNCATE, with CASCADE too.
--
CREATE TABLE accounts (id int PRIMARY KEY, balance numeric);
CREATE TABLE entries (id int PRIMARY KEY, account int REFERENCES accounts, amount numeric);
CREATE TABLE unmirrored (id int PRIMARY KEY, v text);
SELECT dbmirror_add_table('accounts'), dbmirror_add_table('entries');
CREATE TABLE replica.accounts (LIKE accounts);
CREATE TABLE replica.entries (LIKE entries);

-- the xid of every change of a transaction is the top-level one
BEGIN;
INSERT INTO accounts VALUES (1, 100);
SAVEPOINT a;
INSERT INTO accounts VALUES (2, 200);
SAVEPOINT b;
UPDATE accounts SET balance = 250 WHERE id = 2;
RELEASE b;
RELEASE a;
SELECT count(*) AS changes,
       bool_and("XID" = pg_current_xact_id()) AS all_top_level
  FROM "Pending";
COMMIT;
SELECT n, op, key, data FROM queue;
SELECT replay();

-- a rolled-back savepoint takes its changes with it, nested ones too
BEGIN;
UPDATE accounts SET balance = 110 WHERE id = 1;
SAVEPOINT a;
INSERT INTO accounts VALUES (3, 300);
SAVEPOINT b;
DELETE FROM accounts WHERE id = 2;
ROLLBACK TO a;
INSERT INTO accounts VALUES (4, 400);
SAVEPOINT c;
UPDATE accounts SET balance = 444 WHERE id = 4;
ROLLBACK TO c;
UPDATE accounts SET balance = 440 WHERE id = 4;
COMMIT;
SELECT n, op, key, data FROM queue;
SELECT replay();
SELECT same_as_replica('accounts');

-- a rolled-back transaction leaves nothing
BEGIN;
INSERT INTO accounts VALUES (5, 500);
ROLLBACK;
SELECT count(*) AS changes FROM "Pending";

-- two-phase commit
BEGIN;
INSERT INTO accounts VALUES (6, 600);
UPDATE accounts SET balance = 0 WHERE id = 1;
SELECT pg_current_xact_id() AS prepared_xid \gset
PREPARE TRANSACTION 'dbmirror_capture_test';
SELECT count(*) AS changes_while_prepared FROM "Pending";
COMMIT PREPARED 'dbmirror_capture_test';
SELECT n, op, key, data FROM queue;
SELECT "Op", "XID" = :'prepared_xid'::xid8 AS prepared_xid FROM "Pending" ORDER BY "SeqId";
SELECT replay();
BEGIN;
INSERT INTO accounts VALUES (7, 700);
PREPARE TRANSACTION 'dbmirror_capture_test';
ROLLBACK PREPARED 'dbmirror_capture_test';
SELECT count(*) AS after_rollback_prepared FROM "Pending";
SELECT same_as_replica('accounts');

-- writing no mirrored table leaves nothing; reading forces no xid
BEGIN;
INSERT INTO unmirrored VALUES (1, 'x');
UPDATE unmirrored SET v = 'y';
COMMIT;
BEGIN;
SELECT count(*) FROM accounts;
UPDATE accounts SET balance = balance WHERE id = -1;
SELECT pg_current_xact_id_if_assigned() IS NULL AS no_xid;
COMMIT;
SELECT count(*) AS changes FROM "Pending";

-- TRUNCATE: one 't' per table, CASCADE included, no data rows
INSERT INTO entries VALUES (1, 1, 10), (2, 4, -5);
TRUNCATE accounts CASCADE;
SELECT n, table_name, op, key, data FROM queue;
SELECT count(*) AS data_rows FROM "PendingData" d
  JOIN "Pending" p USING ("SeqId") WHERE p."Op" = 't';
SELECT replay();
SELECT same_as_replica('accounts'), same_as_replica('entries');

-- TRUNCATE, then changes again, in one transaction; a TRUNCATE rolled back
BEGIN;
INSERT INTO accounts VALUES (1, 1), (2, 2);
UPDATE accounts SET balance = 10 WHERE id = 1;
TRUNCATE accounts CASCADE;
INSERT INTO accounts VALUES (1, 11);
UPDATE accounts SET balance = 12 WHERE id = 1;
SAVEPOINT s;
TRUNCATE accounts CASCADE;
ROLLBACK TO s;
COMMIT;
SELECT n, table_name, op, key, data FROM queue;
SELECT replay();
SELECT same_as_replica('accounts'), same_as_replica('entries');
