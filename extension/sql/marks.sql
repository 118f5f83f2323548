--
-- Marks: every 32768th change (by SeqId) the capture records a snapshot in
-- "PendingMark", by which a replayer commits a long backlog in parts.  The
-- snapshot never counts its own writer as committed; a transaction that
-- has queued more than 1024 changes records none; a queue without the
-- table (set up by an older MirrorSetup.sql) captures without marks.
--
CREATE TABLE mk (id int PRIMARY KEY, v text);
SELECT dbmirror_add_table('mk');
TRUNCATE "PendingMark";

-- SeqId 32767 takes no mark, 32768 does, in a transaction of its own
SELECT setval('"Pending_SeqId_seq"', 32766);
INSERT INTO mk VALUES (1, 'a');
INSERT INTO mk VALUES (2, 'b');
SELECT m."SeqId", p."TableName", p."Op",
       pg_visible_in_snapshot(p."XID", m."Snapshot") AS writer_seen,
       pg_visible_in_snapshot((SELECT q."XID" FROM "Pending" q WHERE q."SeqId" = 32767), m."Snapshot")
           AS earlier_seen
  FROM "PendingMark" m JOIN "Pending" p USING ("SeqId");

-- (specs/mark_writer.spec: a writer whose xid is below the mark's xmax)

-- a transaction that queued more than 1024 changes takes no mark
TRUNCATE "PendingMark";
SELECT setval('"Pending_SeqId_seq"', 98303 - 1100);
INSERT INTO mk SELECT g, 'bulk' FROM generate_series(100, 1299) g;
SELECT count(m."SeqId") AS marks, max(p."SeqId") >= 98304 AS crossed
  FROM "Pending" p LEFT JOIN "PendingMark" m USING ("SeqId");

-- a queue without "PendingMark" captures without marks
ALTER TABLE "PendingMark" RENAME TO "PendingMark_away";
SELECT setval('"Pending_SeqId_seq"', 131071);
INSERT INTO mk VALUES (6, 'f');
SELECT count(*) AS queued FROM "Pending" WHERE "SeqId" = 131072;
ALTER TABLE "PendingMark_away" RENAME TO "PendingMark";
SELECT count(*) AS marks FROM "PendingMark";

SELECT clear_queue();
DROP TABLE mk;
