/*-------------------------------------------------------------------------
 *
 * pending.c
 *	  dbmirror's capture trigger: record every row change of a mirrored
 *	  table in the replication queue ("Pending", "PendingData").
 *
 * recordchange() is an AFTER trigger: FOR EACH ROW on INSERT, UPDATE and
 * DELETE, FOR EACH STATEMENT on TRUNCATE.  Each change becomes one
 * "Pending" row (SeqId, quoted table name, op, top-level full xid) and the
 * "PendingData" rows of docs/FORMAT.md: the new row of an insert or update,
 * the old primary key of an update or delete.  The queue is the one in the
 * schema of the recordchange() function that fired, whatever search_path
 * says, and it is written as the queue's owner, so an application role
 * needs no right on it.
 *
 * AFTER triggers do not fire in the order the rows changed: a trigger that
 * sorts before ours and writes the same row again gets its nested change
 * captured first.  When the row an event produced has already been
 * superseded by a change this transaction captured, the event is folded
 * into that logged change instead of being logged after it, so replaying
 * the queue in SeqId order ends in the master's state.  docs/FORMAT.md
 * ("How capture stays right") gives the reasoning.
 *
 * Changes are not written one by one: the capture buffers them, SeqId
 * taken, and writes them with one multi-insert per queue table before the
 * transaction commits or prepares, when the buffer fills, and before a
 * statement that may look at the queue tables.  A change is written by
 * the subtransaction that captured it, or by an ancestor once that one
 * committed, so rolled-back savepoints still take their changes with them.
 *
 * Each transaction that queued a change notifies channel "dbmirror" when
 * it commits.
 *
 * IDENTIFICATION
 *	  extension/pending.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lock.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/bytea.h"
#include "utils/float.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_locale.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "utils/xid8.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(recordchange);
PG_FUNCTION_INFO_V1(dbmirror_queue_format);

/*
 * The version of the queue's row format (docs/FORMAT.md) this capture
 * writes, which dbmirror_queue_format() reports: a replayer refuses a queue
 * written in a format newer than it reads.  2: updates as 'U' rows, the key
 * first in a new row of key and changed columns.
 */
#define QUEUE_FORMAT 2

void		_PG_init(void);

/*
 * The channel a committing transaction that queued changes notifies, when
 * a replayer listens.  A listening replayer holds the advisory lock
 * pg_advisory_lock_shared(LISTENER_LOCK_KEY) on its connection, except
 * for moments after a notification when it reads the queue anyway; while
 * nobody holds it the capture sends nothing.  A NOTIFY is not free: the
 * committing transaction takes a database-wide lock that serialises every
 * notifying commit until its end (3-5 % of pgbench's TPS on the benchmark
 * machine, docs/BENCHMARKS.md).  The key is the bigint 0x64626D6972726F72,
 * "dbmirror" in ASCII.
 */
#define NOTIFY_CHANNEL "dbmirror"
#define LISTENER_LOCK_KEY_HIGH 0x64626D69
#define LISTENER_LOCK_KEY_LOW 0x72726F72

/*
 * Every MARK_INTERVAL-th change (by SeqId) the capture records a snapshot
 * in "PendingMark", so that a replayer catching up on a long backlog can
 * commit it on the slave in parts that each end in a state the master had
 * (docs/DESIGN.md, "Parts").  A transaction that has already queued more
 * than MARK_MAX_OWN_CHANGES changes skips it: the part ending at a mark
 * scans the writer's rows in vain (the writer is still running in it).
 */
#define MARK_INTERVAL 32768
#define MARK_MAX_OWN_CHANGES 1024

/*
 * The change buffer is written out once it holds this many changes or
 * this many bytes of encoded rows, and the queue tables take it in
 * multi-inserts of at most FLUSH_CHUNK changes.
 */
#define BUFFER_MAX_CHANGES 1024
#define BUFFER_MAX_BYTES (4 * 1024 * 1024)
#define FLUSH_CHUNK 256

/*
 * The columns of the queue tables as MirrorSetup.sql creates them.  Rows
 * go straight into tables laid out exactly so (see
 * write_changes_directly()).
 */
typedef struct QueueColumn
{
	const char *name;
	Oid			type;
} QueueColumn;

static const QueueColumn pending_columns[] = {
	{"SeqId", INT8OID},
	{"TableName", TEXTOID},
	{"Op", CHAROID},
	{"XID", XID8OID}
};

static const QueueColumn pending_data_columns[] = {
	{"SeqId", INT8OID},
	{"IsKey", BOOLOID},
	{"Data", TEXTOID}
};

/*
 * The statements the capture runs against the queue.  Their text is
 * constant apart from the queue's schema, so each is prepared once per
 * backend and kept.
 */
typedef enum QueuePlan
{
	PLAN_CHANGE,				/* a "Pending" row alone (TRUNCATE) */
	PLAN_CHANGE_ROW,			/* "Pending" + one "PendingData" row */
	PLAN_CHANGE_KEY_ROW,		/* "Pending" + old key + new row */
	PLAN_SET_KEY,				/* fold: give a logged change another key */
	PLAN_MAKE_INSERT,			/* fold: turn a logged 'u' into an 'i' */
	PLAN_DROP_CHANGE,			/* fold: remove a logged change */
	PLAN_MARK,					/* a snapshot in "PendingMark" */
	NUM_QUEUE_PLANS
} QueuePlan;

/*
 * One queue: the tables in the schema of one recordchange() function.
 * Normally a database has exactly one.  Lives in TopMemoryContext.
 */
typedef struct CaptureQueue
{
	Oid			func_oid;		/* the recordchange() that writes here */
	Oid			namespace_oid;	/* its schema, where the tables are */
	bool		catalog_valid;	/* relids, owner and sequence up to date */
	bool		name_valid;		/* quoted_namespace up to date */
	char	   *quoted_namespace;
	Oid			pending_relid;
	Oid			pending_data_relid;
	Oid			sequence_relid;
	Oid			owner;			/* owner of "Pending": who writes the queue */
	bool		plain_valid;	/* plain up to date */
	bool		plain;			/* queue tables take direct inserts */
	SPIPlanPtr	plans[NUM_QUEUE_PLANS];
	struct CaptureQueue *next;
} CaptureQueue;

/*
 * How a column's values are turned into text: by the type's output
 * function, or, for the commonest types, by the same code the output
 * function runs, without its call and palloc.
 */
typedef enum OutputKind
{
	OUTPUT_GENERIC,				/* call the output function */
	OUTPUT_INT2,				/* int2out */
	OUTPUT_INT4,				/* int4out */
	OUTPUT_INT8,				/* int8out */
	OUTPUT_BOOL,				/* boolout */
	OUTPUT_TEXT					/* textout, varcharout, bpcharout */
} OutputKind;

/* What the capture needs to know of one column. */
typedef struct CaptureColumn
{
	bool		written;		/* false for dropped and generated columns */
	bool		in_key;			/* part of the primary key */
	int16		typlen;			/* for comparing an update's old and new value */
	bool		typbyval;
	char	   *label;			/* the column's name, quoted, then '=' */
	int			label_len;
	OutputKind	kind;
	FmgrInfo	output;			/* the type's output function */
} CaptureColumn;

/*
 * What the capture needs to know of one mirrored table, built from the
 * catalog on first use and after each relcache invalidation of the table.
 */
typedef struct CaptureRelation
{
	Oid			relid;			/* hash key: must be first */
	bool		valid;
	MemoryContext context;		/* holds everything below */
	text	   *table_name;		/* schema.table, quoted */
	bool		has_primary_key;
	bool		uses_money;		/* a column's output depends on lc_monetary */
	int			natts;
	CaptureColumn *columns;		/* indexed by attnum - 1 */
	int			nkeys;
	AttrNumber *keys;			/* primary key columns, ascending attnum */
} CaptureRelation;

/*
 * The logged changes an event may have to be folded into, by the tuple
 * they start from.  An entry is either
 *
 *   - a logged update or delete, keyed by its old tuple (the first version
 *     it covers), remembered only when this transaction wrote that tuple,
 *     since only then can an earlier change to the row still fire; or
 *   - "absorbed": the new tuple of an event not fired yet whose change a
 *     logged change already covers, so the event is to be dropped when it
 *     fires (see fold_into_logged_change()).
 *
 * The key is a physical tuple address; the relfilenode keeps addresses
 * from before a table rewrite from matching.
 */
typedef struct LoggedChangeKey
{
	Oid			namespace_oid;	/* which queue */
	Oid			relid;
	Oid			relfilenode;
	ItemPointerData tid;
} LoggedChangeKey;

typedef struct LoggedChange
{
	LoggedChangeKey key;		/* hash key: must be first */
	bool		absorbed;		/* an event to drop, not a change */
	char		op;				/* 'u' or 'd' */
	int64		seqid;
	SubTransactionId subid;		/* (sub)transaction that wrote it last */
} LoggedChange;

/* An index of a queue table, open for insertion. */
typedef struct OpenIndex
{
	Relation	index;
	IndexInfo  *info;			/* NULL unless the index is plain */
} OpenIndex;

/*
 * A captured change not yet written to the queue tables.  key and data
 * (NULL where the op has none) and table_name live in buffer_context.
 *
 * subid is the subtransaction the change belongs to: the one that captured
 * it, or, once that one committed, its parent.  The buffer is in SeqId
 * order, and its subids never decrease along it, since every change in it
 * belongs to the current subtransaction or one of its ancestors: a
 * subtransaction's changes are dropped when it aborts and handed to its
 * parent when it commits.  Only the current subtransaction's changes may be
 * written (they then get its xid, so they live and die with it); an
 * ancestor's wait until control is back in that ancestor.
 *
 * cid is the command id of the capture.  Rows written before commit (for
 * a statement that reads the queue, or a full buffer) get it, so that they
 * are visible exactly when they would have been had they been written at
 * once; rows written at commit, which no statement of the transaction can
 * see any more, all get one, so that each table takes them in one
 * multi-insert.
 */
typedef struct BufferedChange
{
	CaptureQueue *queue;
	int64		seqid;
	text	   *table_name;
	text	   *key;
	text	   *data;
	char		op;
	bool		dropped;		/* folded away: write nothing */
	SubTransactionId subid;
	CommandId	cid;
} BufferedChange;

/* What became of a tuple this transaction wrote. */
typedef enum TupleFate
{
	TUPLE_LIVE,					/* not superseded (or not by us) */
	TUPLE_UPDATED,				/* updated again by this transaction */
	TUPLE_DELETED				/* deleted (or moved away) by this transaction */
} TupleFate;

/* Queues of this backend. */
static CaptureQueue *queues = NULL;

/* Tables of this backend, in their own memory context. */
static HTAB *relation_cache = NULL;
static MemoryContext relation_cache_context = NULL;

/*
 * Per-transaction state.  logged_changes lives in TopTransactionContext;
 * its entries record the subtransaction that wrote them, and since a
 * subtransaction's descendants all have larger ids, aborting subtransaction
 * S discards exactly the entries with subid >= S.  notify_subid is the
 * smallest subtransaction that queued a surviving change, or invalid when
 * nothing is queued; the same rule clears it.
 */
static HTAB *logged_changes = NULL;
static SubTransactionId logged_changes_max_subid = InvalidSubTransactionId;
static SubTransactionId notify_subid = InvalidSubTransactionId;

/* Changes this transaction captured, rolled-back savepoints included. */
static int64 xact_changes = 0;

static bool callbacks_registered = false;

/*
 * How many queue statements are executing (a trigger on a queue table can
 * make the capture run again inside one): their plans must not be freed.
 * Reset when the transaction ends, since an error skips the decrement.
 */
static int	running_statements = 0;

/*
 * The change buffer, per transaction: the array lives in
 * TopTransactionContext, the rows it points to in buffer_context (reset
 * whenever the buffer empties).  buffered_table_name is the last table
 * name copied there, shared by the changes of one table.
 */
static BufferedChange *buffered = NULL;
static int	nbuffered = 0;
static int	max_buffered = 0;
static Size buffered_bytes = 0;
static MemoryContext buffer_context = NULL;
static text *buffered_table_name = NULL;

/* True while the buffer is being written: nested flushes wait. */
static bool flushing = false;

/* True while the buffer is written at commit or prepare (one command id). */
static bool writing_at_commit = false;

/* Where a write of the buffer allocates, emptied after each. */
static MemoryContext write_context = NULL;

/*
 * Slots for the multi-inserts, made as needed and kept for the life of the
 * backend, with the tuples they hold (see insert_rows()).
 */
typedef struct QueueSlots
{
	TupleDesc	desc;			/* of the table's columns, for the slots */
	TupleTableSlot **slots;
	int			nslots;
} QueueSlots;

static QueueSlots pending_slots = {0};
static QueueSlots pending_data_slots = {0};

/* Where each encoded row is built before its copy goes to the buffer. */
static StringInfoData encode_buffer;
static bool encode_buffer_busy = false;

static ExecutorStart_hook_type prev_executor_start = NULL;
static ProcessUtility_hook_type prev_process_utility = NULL;

static void flush_changes(void);
static void flush_all_changes(void);
static void log_change(CaptureQueue *queue, Datum *change, text *key,
					   text *data);


/*
 * Mark cached tables and queues stale after a relcache invalidation;
 * they are rebuilt on their next use, never here.
 */
static void
relation_invalidated(Datum arg, Oid relid)
{
	CaptureQueue *queue;

	if (relation_cache != NULL)
	{
		if (OidIsValid(relid))
		{
			CaptureRelation *crel;

			crel = hash_search(relation_cache, &relid, HASH_FIND, NULL);
			if (crel != NULL)
				crel->valid = false;
		}
		else
		{
			HASH_SEQ_STATUS status;
			CaptureRelation *crel;

			hash_seq_init(&status, relation_cache);
			while ((crel = hash_seq_search(&status)) != NULL)
				crel->valid = false;
		}
	}

	for (queue = queues; queue != NULL; queue = queue->next)
	{
		if (!OidIsValid(relid) ||
			relid == queue->pending_relid ||
			relid == queue->pending_data_relid ||
			relid == queue->sequence_relid)
		{
			queue->catalog_valid = false;
			queue->plain_valid = false;
		}
	}
}

/*
 * A schema changed, maybe renamed: queues re-read their schema's name (and
 * so the text of their statements), and tables their quoted name, on next
 * use.  Renaming a schema invalidates no relcache entry, hence this.
 */
static void
namespace_invalidated(Datum arg, int cacheid, uint32 hashvalue)
{
	CaptureQueue *queue;

	for (queue = queues; queue != NULL; queue = queue->next)
		queue->name_valid = false;
	relation_invalidated((Datum) 0, InvalidOid);
}

/*
 * Does a replayer listen on this database?  Only if someone holds the
 * listener lock, which a try for it in a conflicting mode tells without
 * waiting.  Each time a replayer takes the lock it reads the queue, and
 * again once the transactions running at that moment have ended, so a
 * transaction that found the lock free is read without a notification.
 */
static bool
replayer_listens(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, LISTENER_LOCK_KEY_HIGH,
						 LISTENER_LOCK_KEY_LOW, 1);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, ExclusiveLock, false);
	return false;
}

/*
 * Forget the per-transaction state when a transaction ends, and wake a
 * listening replayer just before a transaction that queued changes commits.
 *
 * The notification is queued at pre-commit rather than when a change is
 * captured: PREPARE TRANSACTION refuses a transaction with a pending
 * NOTIFY, and by pre-commit every trigger, deferred ones included, has
 * fired.  A prepared transaction therefore wakes nobody; its changes are
 * picked up by the replayer's next poll.
 */
static void
transaction_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			/* deferred triggers have fired: nothing more is captured */
			flush_all_changes();
			if (notify_subid != InvalidSubTransactionId && replayer_listens())
				Async_Notify(NOTIFY_CHANNEL, NULL);
			break;
		case XACT_EVENT_PRE_PREPARE:
			flush_all_changes();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* their memory goes with TopTransactionContext */
			logged_changes = NULL;
			logged_changes_max_subid = InvalidSubTransactionId;
			notify_subid = InvalidSubTransactionId;
			xact_changes = 0;
			running_statements = 0;
			buffered = NULL;
			nbuffered = 0;
			max_buffered = 0;
			buffered_bytes = 0;
			buffer_context = NULL;
			buffered_table_name = NULL;
			flushing = false;
			writing_at_commit = false;
			encode_buffer_busy = false;
			break;
		default:
			break;
	}
}

/*
 * Drop the buffered changes of an aborting subtransaction and its
 * descendants.
 */
static void
discard_buffered_changes(SubTransactionId subid)
{
	while (nbuffered > 0 && buffered[nbuffered - 1].subid >= subid)
	{
		BufferedChange *change = &buffered[--nbuffered];

		if (change->key != NULL)
		{
			buffered_bytes -= VARSIZE(change->key);
			pfree(change->key);
		}
		if (change->data != NULL)
		{
			buffered_bytes -= VARSIZE(change->data);
			pfree(change->data);
		}
	}
}

/*
 * A subtransaction committed: its buffered changes now belong to its
 * parent.
 */
static void
hand_buffered_changes_to_parent(SubTransactionId subid,
								SubTransactionId parent)
{
	int			i;

	for (i = nbuffered - 1; i >= 0 && buffered[i].subid >= subid; i--)
		buffered[i].subid = parent;
}

/*
 * When a subtransaction aborts, its queue rows are gone: drop its buffered
 * changes and forget what it and its (committed) descendants logged.  When
 * one commits, its buffered changes become its parent's; the logged-change
 * entries simply stay.
 */
static void
subtransaction_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		hand_buffered_changes_to_parent(mySubid, parentSubid);
		return;
	}
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;

	discard_buffered_changes(mySubid);
	encode_buffer_busy = false;

	if (notify_subid != InvalidSubTransactionId && notify_subid >= mySubid)
		notify_subid = InvalidSubTransactionId;

	if (logged_changes != NULL && logged_changes_max_subid >= mySubid)
	{
		HASH_SEQ_STATUS status;
		LoggedChange *change;

		hash_seq_init(&status, logged_changes);
		while ((change = hash_seq_search(&status)) != NULL)
		{
			if (change->subid >= mySubid)
				hash_search(logged_changes, &change->key, HASH_REMOVE, NULL);
		}
		logged_changes_max_subid = parentSubid;
	}
}

/*
 * Register the invalidation and transaction callbacks, once per backend.
 */
static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	CacheRegisterRelcacheCallback(relation_invalidated, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, namespace_invalidated,
								  (Datum) 0);
	RegisterXactCallback(transaction_callback, NULL);
	RegisterSubXactCallback(subtransaction_callback, NULL);
	callbacks_registered = true;
}

/*
 * Does a statement read or write a queue table?  relationOids lists every
 * relation the plan uses, those behind views included.
 */
static bool
uses_queue_tables(PlannedStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->relationOids)
	{
		Oid			relid = lfirst_oid(lc);
		CaptureQueue *queue;

		for (queue = queues; queue != NULL; queue = queue->next)
		{
			if (relid == queue->pending_relid ||
				relid == queue->pending_data_relid)
				return true;
		}
	}
	return false;
}

/*
 * Changes stay buffered until the transaction commits (or the buffer
 * fills): a statement that uses the queue tables first has the current
 * subtransaction's buffered changes written, so that it finds them there.
 * The rows keep the command id of their capture, so they are visible to
 * it as they would have been had they been written at once.
 */
static void
capture_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (nbuffered > 0 && uses_queue_tables(queryDesc->plannedstmt))
		flush_changes();
	if (prev_executor_start != NULL)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * Utility commands (COPY, TRUNCATE, DDL...) may use the queue tables
 * without a plan to tell: the buffer is written before them.  So it is
 * before SAVEPOINT, since statements in the savepoint could not write
 * (nor show) changes buffered before it.  Other transaction control needs
 * nothing: COMMIT and PREPARE write the buffer, and RELEASE and ROLLBACK
 * TO keep or drop the savepoint's changes in it.
 */
static bool
writes_buffer_first(Node *utility)
{
	if (!IsA(utility, TransactionStmt))
		return true;
	return ((TransactionStmt *) utility)->kind == TRANS_STMT_SAVEPOINT;
}

static void
capture_process_utility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	if (nbuffered > 0 && writes_buffer_first(pstmt->utilityStmt))
		flush_changes();
	if (prev_process_utility != NULL)
		prev_process_utility(pstmt, queryString, readOnlyTree, context,
							 params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/*
 * Install the statement hooks that write the change buffer, when the
 * library is loaded.
 */
void
_PG_init(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = capture_executor_start;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = capture_process_utility;
}

/*
 * Find a queue table or sequence in the queue's schema, or fail saying the
 * setup is missing.
 */
static Oid
queue_object(CaptureQueue *queue, const char *name)
{
	Oid			relid = get_relname_relid(name, queue->namespace_oid);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("dbmirror queue relation \"%s\" does not exist in schema \"%s\"",
						name, get_namespace_name(queue->namespace_oid)),
				 errhint("Run MirrorSetup.sql in the schema of the recordchange() function.")));
	return relid;
}

/*
 * Bring a queue's catalog facts up to date: its schema's quoted name and
 * the OIDs and owner of its tables.  The statements are (re)prepared
 * lazily by queue_plan().
 */
static void
refresh_queue(CaptureQueue *queue)
{
	if (!queue->name_valid)
	{
		char	   *nspname = get_namespace_name(queue->namespace_oid);
		char	   *quoted;
		int			i;

		if (nspname == NULL)
			elog(ERROR, "cache lookup failed for namespace %u",
				 queue->namespace_oid);
		quoted = MemoryContextStrdup(TopMemoryContext, quote_identifier(nspname));

		/*
		 * A renamed schema makes the statements' text wrong: prepare them
		 * anew, once none of them is executing.
		 */
		queue->name_valid = true;
		if (queue->quoted_namespace != NULL &&
			strcmp(queue->quoted_namespace, quoted) == 0)
			pfree(quoted);
		else if (running_statements > 0)
		{
			pfree(quoted);
			queue->name_valid = false;	/* retry next time */
		}
		else
		{
			for (i = 0; i < NUM_QUEUE_PLANS; i++)
			{
				if (queue->plans[i] != NULL)
					SPI_freeplan(queue->plans[i]);
				queue->plans[i] = NULL;
			}
			if (queue->quoted_namespace != NULL)
				pfree(queue->quoted_namespace);
			queue->quoted_namespace = quoted;
		}
	}

	if (!queue->catalog_valid)
	{
		HeapTuple	classtup;

		queue->pending_relid = queue_object(queue, "Pending");
		queue->pending_data_relid = queue_object(queue, "PendingData");
		queue->sequence_relid = queue_object(queue, "Pending_SeqId_seq");

		classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(queue->pending_relid));
		if (!HeapTupleIsValid(classtup))
			elog(ERROR, "cache lookup failed for relation %u",
				 queue->pending_relid);
		queue->owner = ((Form_pg_class) GETSTRUCT(classtup))->relowner;
		ReleaseSysCache(classtup);
		queue->catalog_valid = true;
	}
}

/*
 * Return the queue of the recordchange() function with OID func_oid, with
 * its catalog facts up to date.
 */
static CaptureQueue *
get_queue(Oid func_oid)
{
	CaptureQueue *queue;

	for (queue = queues; queue != NULL; queue = queue->next)
	{
		if (queue->func_oid == func_oid)
			break;
	}

	if (queue == NULL)
	{
		HeapTuple	proctup;

		proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(func_oid));
		if (!HeapTupleIsValid(proctup))
			elog(ERROR, "cache lookup failed for function %u", func_oid);

		queue = MemoryContextAllocZero(TopMemoryContext, sizeof(CaptureQueue));
		queue->func_oid = func_oid;
		queue->namespace_oid = ((Form_pg_proc) GETSTRUCT(proctup))->pronamespace;
		ReleaseSysCache(proctup);
		queue->next = queues;
		queues = queue;
	}

	refresh_queue(queue);
	return queue;
}

/*
 * Return the kept plan of one queue statement, preparing it on first use.
 * Must be called inside SPI_connect().
 *
 * Every name is schema-qualified and every operator spelled
 * OPERATOR(pg_catalog.=), so no search_path can redirect the statement,
 * not even when the plan cache re-analyzes it under the caller's path.
 * The plan is still prepared under "pg_catalog, pg_temp" for good measure.
 * Plans are kept (SPI_keepplan) for the life of the backend: preparing is
 * far dearer than executing, and the capture runs for every row changed.
 */
static SPIPlanPtr
queue_plan(CaptureQueue *queue, QueuePlan which)
{
	const char *nsp = queue->quoted_namespace;
	StringInfoData sql;
	Oid			argtypes[6];
	int			nargs;
	int			save_nestlevel;
	SPIPlanPtr	plan;

	if (queue->plans[which] != NULL)
		return queue->plans[which];

	initStringInfo(&sql);
	switch (which)
	{
		case PLAN_CHANGE:
		case PLAN_CHANGE_ROW:
		case PLAN_CHANGE_KEY_ROW:
			/* $1 SeqId, $2 TableName, $3 Op, $4 XID */
			argtypes[0] = INT8OID;
			argtypes[1] = TEXTOID;
			argtypes[2] = CHAROID;
			argtypes[3] = XID8OID;
			if (which != PLAN_CHANGE)
				appendStringInfoString(&sql, "WITH change AS (");
			appendStringInfo(&sql,
							 "INSERT INTO %s.\"Pending\" (\"SeqId\", \"TableName\", \"Op\", \"XID\") "
							 "VALUES ($1, $2, $3, $4)", nsp);
			nargs = 4;
			if (which == PLAN_CHANGE_ROW)
			{
				/* $5 IsKey, $6 Data */
				argtypes[4] = BOOLOID;
				argtypes[5] = TEXTOID;
				appendStringInfo(&sql,
								 ") INSERT INTO %s.\"PendingData\" (\"SeqId\", \"IsKey\", \"Data\") "
								 "VALUES ($1, $5, $6)", nsp);
				nargs = 6;
			}
			else if (which == PLAN_CHANGE_KEY_ROW)
			{
				/* $5 old key, $6 new row */
				argtypes[4] = TEXTOID;
				argtypes[5] = TEXTOID;
				appendStringInfo(&sql,
								 ") INSERT INTO %s.\"PendingData\" (\"SeqId\", \"IsKey\", \"Data\") "
								 "VALUES ($1, true, $5), ($1, false, $6)", nsp);
				nargs = 6;
			}
			break;
		case PLAN_SET_KEY:
			/* $1 SeqId, $2 key */
			argtypes[0] = INT8OID;
			argtypes[1] = TEXTOID;
			appendStringInfo(&sql,
							 "UPDATE %s.\"PendingData\" SET \"Data\" = $2 "
							 "WHERE \"SeqId\" OPERATOR(pg_catalog.=) $1 AND \"IsKey\"",
							 nsp);
			nargs = 2;
			break;
		case PLAN_MAKE_INSERT:
			/* $1 SeqId, $2 XID (reaches "Pending" by its index), $3 Op */
			argtypes[0] = INT8OID;
			argtypes[1] = XID8OID;
			argtypes[2] = CHAROID;
			appendStringInfo(&sql,
							 "WITH key_row AS (DELETE FROM %s.\"PendingData\" "
							 "WHERE \"SeqId\" OPERATOR(pg_catalog.=) $1 AND \"IsKey\") "
							 "UPDATE %s.\"Pending\" SET \"Op\" = $3 "
							 "WHERE \"XID\" OPERATOR(pg_catalog.=) $2 "
							 "AND \"SeqId\" OPERATOR(pg_catalog.=) $1",
							 nsp, nsp);
			nargs = 3;
			break;
		case PLAN_DROP_CHANGE:
			/* $1 SeqId, $2 XID */
			argtypes[0] = INT8OID;
			argtypes[1] = XID8OID;
			appendStringInfo(&sql,
							 "WITH data_rows AS (DELETE FROM %s.\"PendingData\" "
							 "WHERE \"SeqId\" OPERATOR(pg_catalog.=) $1) "
							 "DELETE FROM %s.\"Pending\" "
							 "WHERE \"XID\" OPERATOR(pg_catalog.=) $2 "
							 "AND \"SeqId\" OPERATOR(pg_catalog.=) $1",
							 nsp, nsp);
			nargs = 2;
			break;
		case PLAN_MARK:

			/*
			 * $1 SeqId, $2 XID.  The statement's snapshot does not list this
			 * transaction as running (a snapshot never lists its own), so it
			 * would count it as committed before the mark: it is added.
			 */
			argtypes[0] = INT8OID;
			argtypes[1] = XID8OID;
			appendStringInfo(&sql,
							 "INSERT INTO %s.\"PendingMark\" (\"SeqId\", \"Snapshot\") "
							 "SELECT $1, CASE WHEN $2 OPERATOR(pg_catalog.<) pg_catalog.pg_snapshot_xmax(s) "
							 "THEN pg_catalog.concat_ws(':', pg_catalog.pg_snapshot_xmin(s), "
							 "pg_catalog.pg_snapshot_xmax(s), "
							 "(SELECT pg_catalog.string_agg(x::pg_catalog.text, ',' ORDER BY x) "
							 "FROM (SELECT pg_catalog.pg_snapshot_xip(s) UNION ALL SELECT $2) AS xs(x)))"
							 "::pg_catalog.pg_snapshot "
							 "ELSE s END "
							 "FROM pg_catalog.pg_current_snapshot() AS s",
							 nsp);
			nargs = 2;
			break;
		default:
			elog(ERROR, "unknown queue statement %d", (int) which);
	}

	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	plan = SPI_prepare(sql.data, nargs, argtypes);
	AtEOXact_GUC(true, save_nestlevel);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql.data, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	pfree(sql.data);

	queue->plans[which] = plan;
	return plan;
}

/*
 * Run one queue statement as the queue's owner, the way ri_triggers.c runs
 * its checks as the table owner, and check that it touched the expected
 * number of rows of its main table (-1: don't check).
 */
static void
run_queue_statement(CaptureQueue *queue, QueuePlan which, Datum *values,
					int expected_result, int64 expected_rows)
{
	Oid			save_userid;
	int			save_sec_context;
	int			rc;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(queue->owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_NOFORCE_RLS);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	running_statements++;
	rc = SPI_execute_plan(queue_plan(queue, which), values, NULL, false, 0);
	running_statements--;
	if (rc != expected_result)
		elog(ERROR, "dbmirror queue statement %d failed: %s",
			 (int) which, SPI_result_code_string(rc));
	if (expected_rows >= 0 && SPI_processed != (uint64) expected_rows)
		elog(ERROR, "dbmirror queue statement %d touched " UINT64_FORMAT
			 " rows, expected " INT64_FORMAT,
			 (int) which, SPI_processed, expected_rows);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");

	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * Is rel a queue table that rows may enter by heap_insert() and
 * index_insert() alone, skipping nothing an INSERT would do?  That is a
 * plain heap table laid out exactly as MirrorSetup.sql makes it, with no
 * trigger, rule, row security or CHECK constraint.  NOT NULL needs no
 * check: the capture never writes a NULL.
 */
static bool
is_plain_queue_table(Relation rel, const QueueColumn *columns, int ncolumns)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
		rel->trigdesc != NULL ||
		rel->rd_rules != NULL ||
		rel->rd_rel->relrowsecurity ||
		desc->natts != ncolumns ||
		(desc->constr != NULL && desc->constr->num_check > 0))
		return false;

	for (i = 0; i < ncolumns; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated != '\0' ||
			att->atttypid != columns[i].type ||
			strcmp(NameStr(att->attname), columns[i].name) != 0)
			return false;
	}
	return true;
}

/*
 * Open the indexes of a queue table for insertion, into *indexes (a list
 * of OpenIndex).  Returns
 * false if one is more than plain columns: expressions, a predicate, an
 * exclusion constraint or a deferred uniqueness check.  As the executor
 * does, indexes not yet ready for inserts are left out.
 */
static bool
open_plain_indexes(Relation rel, List **indexes)
{
	List	   *oids = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		plain = true;

	*indexes = NIL;
	foreach(lc, oids)
	{
		Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);
		Form_pg_index form = index->rd_index;

		OpenIndex  *open;

		if (!form->indisready)
		{
			index_close(index, NoLock);
			continue;
		}
		open = palloc(sizeof(OpenIndex));
		open->index = index;
		open->info = NULL;
		*indexes = lappend(*indexes, open);
		if (!form->indimmediate || form->indisexclusion ||
			!heap_attisnull(index->rd_indextuple, Anum_pg_index_indexprs, NULL) ||
			!heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL))
			plain = false;
		else
			open->info = BuildIndexInfo(index);
	}
	list_free(oids);
	return plain;
}

/*
 * Close the indexes open_plain_indexes() opened; the locks stay until the
 * transaction ends, as the executor's do.
 */
static void
close_indexes(List *indexes)
{
	ListCell   *lc;

	foreach(lc, indexes)
		index_close(((OpenIndex *) lfirst(lc))->index, NoLock);
	list_free_deep(indexes);
}

/*
 * Insert the index entries of one row, without NULLs, of a plain queue
 * table, whose heap tuple is at tid, checking uniqueness where an index is
 * unique.
 */
static void
insert_index_entries(Relation rel, List *indexes, Datum *values,
					 ItemPointer tid)
{
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	index = ((OpenIndex *) lfirst(lc))->index;
		IndexInfo  *info = ((OpenIndex *) lfirst(lc))->info;
		Datum		key_values[INDEX_MAX_KEYS];
		bool		key_nulls[INDEX_MAX_KEYS];
		int			i;

		for (i = 0; i < info->ii_NumIndexAttrs; i++)
		{
			AttrNumber	attnum = info->ii_IndexAttrNumbers[i];

			if (attnum <= 0 || attnum > RelationGetDescr(rel)->natts)
				elog(ERROR, "index \"%s\" has an unexpected column %d",
					 RelationGetRelationName(index), attnum);
			key_values[i] = values[attnum - 1];
			key_nulls[i] = false;
		}
		(void) index_insert(index, key_values, key_nulls, tid, rel,
							index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
							false, info);
	}
}

/*
 * Open a queue's tables and their indexes for insertion, and tell whether
 * rows may go in by heap and index inserts alone: whether every table and
 * index is plain.
 */
static bool
open_queue_tables(CaptureQueue *queue, Relation *pending,
				  Relation *pending_data, List **pending_indexes,
				  List **pending_data_indexes)
{
	bool		plain;

	*pending = table_open(queue->pending_relid, RowExclusiveLock);
	*pending_data = table_open(queue->pending_data_relid, RowExclusiveLock);
	plain = is_plain_queue_table(*pending, pending_columns,
								 lengthof(pending_columns));
	plain = is_plain_queue_table(*pending_data, pending_data_columns,
								 lengthof(pending_data_columns)) && plain;
	plain = open_plain_indexes(*pending, pending_indexes) && plain;
	plain = open_plain_indexes(*pending_data, pending_data_indexes) && plain;
	return plain;
}

/*
 * Close what open_queue_tables() opened; the locks stay until the
 * transaction ends.
 */
static void
close_queue_tables(Relation pending, Relation pending_data,
				   List *pending_indexes, List *pending_data_indexes)
{
	close_indexes(pending_indexes);
	close_indexes(pending_data_indexes);
	table_close(pending_data, NoLock);
	table_close(pending, NoLock);
}

/*
 * May changes for this queue go in by direct inserts (and so be buffered)?
 * Checked once after each invalidation of the queue tables; the writer
 * checks again when it has the tables open.
 */
static bool
queue_is_plain(CaptureQueue *queue)
{
	if (!queue->plain_valid)
	{
		Relation	pending;
		Relation	pending_data;
		List	   *pending_indexes;
		List	   *pending_data_indexes;
		bool		plain;

		/* valid first: an invalidation while we look makes us look again */
		queue->plain_valid = true;
		plain = open_queue_tables(queue, &pending, &pending_data,
								  &pending_indexes, &pending_data_indexes);
		close_queue_tables(pending, pending_data, pending_indexes,
						   pending_data_indexes);
		queue->plain = plain;
	}
	return queue->plain;
}

/*
 * Return at least n slots for multi-inserts into a queue table with the
 * given columns, making the missing ones.  They are made in
 * TopMemoryContext with a descriptor of the columns, used only to make
 * them: they hold heap tuples formed with the table's own descriptor.
 */
static TupleTableSlot **
queue_slots(QueueSlots *kept, const QueueColumn *columns, int ncolumns,
			int n)
{
	MemoryContext oldcontext;

	if (kept->nslots >= n)
		return kept->slots;

	oldcontext = MemoryContextSwitchTo(TopMemoryContext);
	if (kept->desc == NULL)
	{
		TupleDesc	desc = CreateTemplateTupleDesc(ncolumns);
		int			i;

		for (i = 0; i < ncolumns; i++)
			TupleDescInitEntry(desc, (AttrNumber) (i + 1), columns[i].name,
							   columns[i].type, -1, 0);
		kept->desc = desc;
	}
	if (kept->slots == NULL)
		kept->slots = palloc(sizeof(TupleTableSlot *) * n);
	else
		kept->slots = repalloc(kept->slots, sizeof(TupleTableSlot *) * n);
	while (kept->nslots < n)
		kept->slots[kept->nslots++] = MakeTupleTableSlot(kept->desc,
														 &TTSOpsHeapTuple);
	MemoryContextSwitchTo(oldcontext);
	return kept->slots;
}

/* The "Pending" row of a buffered change. */
static void
pending_row(BufferedChange *change, Datum xid, Datum *values)
{
	values[0] = Int64GetDatum(change->seqid);
	values[1] = PointerGetDatum(change->table_name);
	values[2] = CharGetDatum(change->op);
	values[3] = xid;
}

/*
 * Append to rows, at position n, the "PendingData" rows of a buffered
 * change: the key row, the data row, either of which may be absent.
 * Returns the new number of rows.
 */
static int
pending_data_rows(BufferedChange *change, Datum (*rows)[4], int n)
{
	if (change->key != NULL)
	{
		rows[n][0] = Int64GetDatum(change->seqid);
		rows[n][1] = BoolGetDatum(true);
		rows[n][2] = PointerGetDatum(change->key);
		n++;
	}
	if (change->data != NULL)
	{
		rows[n][0] = Int64GetDatum(change->seqid);
		rows[n][1] = BoolGetDatum(false);
		rows[n][2] = PointerGetDatum(change->data);
		n++;
	}
	return n;
}

/*
 * Multi-insert rows into a plain queue table with the given command id,
 * then insert their index entries.  rows[i] holds the values of row i.
 *
 * The tuples are formed in the slots' own memory context, for the slots to
 * free when they are cleared: should an error interrupt the insert, a slot
 * still holds a valid tuple, freed when the slot is next used.
 */
static void
insert_rows(Relation rel, List *indexes, TupleTableSlot **slots,
			Datum (*rows)[4], int n, CommandId cid)
{
	bool		nulls[lengthof(pending_columns)] = {0};
	int			i;

	for (i = 0; i < n; i++)
	{
		MemoryContext oldcontext = MemoryContextSwitchTo(slots[i]->tts_mcxt);
		HeapTuple	tuple = heap_form_tuple(RelationGetDescr(rel), rows[i], nulls);

		MemoryContextSwitchTo(oldcontext);
		ExecStoreHeapTuple(tuple, slots[i], true);
	}
	table_multi_insert(rel, slots, n, cid, 0, NULL);
	for (i = 0; i < n; i++)
	{
		insert_index_entries(rel, indexes, rows[i], &slots[i]->tts_tid);
		ExecClearTuple(slots[i]);
	}
}

/*
 * Write buffered changes straight into a plain queue's tables, a chunk at
 * a time: one multi-insert into "Pending", one into "PendingData", then
 * their index entries.  This is what INSERT statements would do, less the
 * parsing, planning, executor start-up and snapshot per row, and with one
 * page lock and one WAL record per page rather than per row.  A chunk holds
 * changes of one command id, which its rows are written with; at commit,
 * changes of any, all written with the current one.
 */
static void
write_changes_directly(Relation pending, Relation pending_data,
					   List *pending_indexes, List *pending_data_indexes,
					   BufferedChange **changes, int nchanges)
{
	Datum		xid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	int			chunk = Min(nchanges, FLUSH_CHUNK);
	Datum		(*rows)[4] = palloc(sizeof(Datum[4]) * 2 * chunk);
	MemoryContext outer_context = CurrentMemoryContext;
	MemoryContext chunk_context = NULL;
	int			start = 0;

	/* a write of more than one chunk frees each chunk's leftovers */
	if (nchanges > chunk)
	{
		chunk_context = AllocSetContextCreate(CurrentMemoryContext,
											  "dbmirror queue write chunk",
											  ALLOCSET_DEFAULT_SIZES);
		MemoryContextSwitchTo(chunk_context);
	}
	while (start < nchanges)
	{
		CommandId	cid = writing_at_commit ? GetCurrentCommandId(true) :
			changes[start]->cid;
		int			end = start;
		int			n;
		int			i;

		while (end < nchanges && end - start < FLUSH_CHUNK &&
			   (writing_at_commit || changes[end]->cid == cid))
			end++;

		n = 0;
		for (i = start; i < end; i++)
			pending_row(changes[i], xid, rows[n++]);
		insert_rows(pending, pending_indexes,
					queue_slots(&pending_slots, pending_columns,
								lengthof(pending_columns), n),
					rows, n, cid);

		n = 0;
		for (i = start; i < end; i++)
			n = pending_data_rows(changes[i], rows, n);
		if (n > 0)
			insert_rows(pending_data, pending_data_indexes,
						queue_slots(&pending_data_slots, pending_data_columns,
									lengthof(pending_data_columns), n),
						rows, n, cid);

		/* what the multi-inserts leak goes with each chunk */
		if (chunk_context != NULL)
			MemoryContextReset(chunk_context);
		start = end;
	}
	MemoryContextSwitchTo(outer_context);
	if (chunk_context != NULL)
		MemoryContextDelete(chunk_context);
}

/*
 * Log one change by INSERT statements: change holds SeqId, TableName, Op
 * and XID; key and data are the encoded old key and new row, NULL where
 * the op has none.  For queues that are not plain (someone added a
 * trigger, a column, an expression index...): the statements honour all
 * of that.
 */
static void
log_change(CaptureQueue *queue, Datum *change, text *key, text *data)
{
	Datum		values[6];

	memcpy(values, change, 4 * sizeof(Datum));
	if (key != NULL && data != NULL)
	{
		values[4] = PointerGetDatum(key);
		values[5] = PointerGetDatum(data);
		run_queue_statement(queue, PLAN_CHANGE_KEY_ROW, values, SPI_OK_INSERT, 2);
	}
	else if (key != NULL || data != NULL)
	{
		values[4] = BoolGetDatum(key != NULL);
		values[5] = PointerGetDatum(key != NULL ? key : data);
		run_queue_statement(queue, PLAN_CHANGE_ROW, values, SPI_OK_INSERT, 1);
	}
	else
		run_queue_statement(queue, PLAN_CHANGE, values, SPI_OK_INSERT, 1);
}

/*
 * Write the buffered changes of one queue (those of changes[] whose queue
 * it is), as the queue's owner: directly while its tables are plain, else
 * by INSERT statements.
 */
static void
write_queue_changes(CaptureQueue *queue, BufferedChange *changes, int n)
{
	BufferedChange **mine = palloc(sizeof(BufferedChange *) * n);
	int			nmine = 0;
	Relation	pending;
	Relation	pending_data;
	List	   *pending_indexes;
	List	   *pending_data_indexes;
	Oid			save_userid;
	int			save_sec_context;
	bool		plain;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (changes[i].queue == queue && !changes[i].dropped)
			mine[nmine++] = &changes[i];
	}
	if (nmine == 0)
		return;

	refresh_queue(queue);
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(queue->owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_NOFORCE_RLS);
	plain = open_queue_tables(queue, &pending, &pending_data,
							  &pending_indexes, &pending_data_indexes);
	if (plain)
		write_changes_directly(pending, pending_data, pending_indexes,
							   pending_data_indexes, mine, nmine);
	close_queue_tables(pending, pending_data, pending_indexes,
					   pending_data_indexes);
	SetUserIdAndSecContext(save_userid, save_sec_context);

	if (!plain)
	{
		Datum		xid = FullTransactionIdGetDatum(GetTopFullTransactionId());

		for (i = 0; i < nmine; i++)
		{
			Datum		change[4];

			pending_row(mine[i], xid, change);
			log_change(queue, change, mine[i]->key, mine[i]->data);
		}
	}
	pfree(mine);
}

/*
 * Write the buffered changes from position from on, and take them out of
 * the buffer.  They must all be the current subtransaction's.
 *
 * They leave the buffer before they are written: should writing them fail,
 * the (sub)transaction that owns them aborts.  A capture run while they
 * are written (only by a trigger on a queue table that is not plain)
 * buffers its change after them, to be written by a later flush.
 */
static void
write_buffered_changes(int from)
{
	int			n = nbuffered - from;
	BufferedChange *batch;
	MemoryContext oldcontext;
	int			i;
	int			j;

	/*
	 * Everything the write allocates goes in a context kept for the
	 * purpose and emptied after each write; one a failed write left
	 * behind is emptied now.
	 */
	if (write_context == NULL)
		write_context = AllocSetContextCreate(TopMemoryContext,
											  "dbmirror buffer write",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(write_context);
	oldcontext = MemoryContextSwitchTo(write_context);
	batch = palloc(sizeof(BufferedChange) * n);
	memcpy(batch, &buffered[from], sizeof(BufferedChange) * n);
	nbuffered = from;

	flushing = true;
	PG_TRY();
	{
		bool		pushed = false;

		/* the INSERT statements and toasting need a snapshot */
		if (!ActiveSnapshotSet())
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			pushed = true;
		}
		for (i = 0; i < n; i++)
		{
			/* each queue once, at its first change */
			for (j = 0; j < i; j++)
			{
				if (batch[j].queue == batch[i].queue)
					break;
			}
			if (j == i)
				write_queue_changes(batch[i].queue, batch, n);
		}
		if (pushed)
			PopActiveSnapshot();
	}
	PG_FINALLY();
	{
		flushing = false;
	}
	PG_END_TRY();

	MemoryContextSwitchTo(oldcontext);
	if (nbuffered == 0)
	{
		MemoryContextReset(buffer_context);
		buffered_table_name = NULL;
		buffered_bytes = 0;
	}
	else
	{
		for (i = 0; i < n; i++)
		{
			if (batch[i].key != NULL)
			{
				buffered_bytes -= VARSIZE(batch[i].key);
				pfree(batch[i].key);
			}
			if (batch[i].data != NULL)
			{
				buffered_bytes -= VARSIZE(batch[i].data);
				pfree(batch[i].data);
			}
		}
	}
	MemoryContextReset(write_context);
}

/*
 * Write the buffered changes of the current subtransaction, the end of the
 * buffer (an ancestor's wait until control is back in it).  Does nothing
 * while a flush is running.
 */
static void
flush_changes(void)
{
	SubTransactionId current;
	int			from;

	/*
	 * Nothing is written in a failed transaction (which has nothing to
	 * write), nor in parallel mode (which captures nothing).
	 */
	if (nbuffered == 0 || flushing || !IsTransactionState() ||
		IsAbortedTransactionBlockState() || IsInParallelMode())
		return;

	current = GetCurrentSubTransactionId();
	from = nbuffered;
	while (from > 0 && buffered[from - 1].subid == current)
		from--;
	if (from < nbuffered)
		write_buffered_changes(from);
}

/*
 * Write every buffered change, before the transaction commits or prepares.
 * By then every subtransaction has ended, so all are the top-level one's,
 * and no statement of the transaction will look at the queue again: the
 * rows all take the current command id.
 */
static void
flush_all_changes(void)
{
	writing_at_commit = true;
	while (nbuffered > 0)
	{
		int			before = nbuffered;

		flush_changes();
		if (nbuffered >= before)
			elog(ERROR, "dbmirror could not write %d buffered changes",
				 nbuffered);
	}
	writing_at_commit = false;
}

/*
 * Copy an encoded row into the buffer's memory.
 */
static text *
buffer_text(text *row)
{
	text	   *copy;

	if (buffer_context == NULL)
		buffer_context = AllocSetContextCreate(TopTransactionContext,
											   "dbmirror change buffer",
											   ALLOCSET_DEFAULT_SIZES);
	copy = MemoryContextAlloc(buffer_context, VARSIZE(row));

	memcpy(copy, row, VARSIZE(row));
	buffered_bytes += VARSIZE(row);
	return copy;
}

/*
 * Buffer one change, captured now, of the current subtransaction.  key and
 * data are already in the buffer's memory (buffer_text()); the table name
 * is copied there, or shared with the previous change of the same table.
 */
static void
buffer_change(CaptureQueue *queue, int64 seqid, text *table_name, char op,
			  text *key, text *data)
{
	BufferedChange *change;

	if (nbuffered == max_buffered)
	{
		int			newmax = Max(64, 2 * max_buffered);

		if (buffered == NULL)
			buffered = MemoryContextAlloc(TopTransactionContext,
										  sizeof(BufferedChange) * newmax);
		else
			buffered = repalloc(buffered, sizeof(BufferedChange) * newmax);
		max_buffered = newmax;
	}

	if (buffered_table_name == NULL ||
		VARSIZE(buffered_table_name) != VARSIZE(table_name) ||
		memcmp(buffered_table_name, table_name, VARSIZE(table_name)) != 0)
		buffered_table_name = buffer_text(table_name);

	change = &buffered[nbuffered];
	change->queue = queue;
	change->seqid = seqid;
	change->table_name = buffered_table_name;
	change->key = key;
	change->data = data;
	change->op = op;
	change->dropped = false;
	change->subid = GetCurrentSubTransactionId();
	change->cid = GetCurrentCommandId(true);
	nbuffered++;
}

/*
 * Return the position in the buffer of the change with this SeqId of this
 * queue, or -1 when it has been written already.
 */
static int
find_buffered_change(CaptureQueue *queue, int64 seqid)
{
	int			i;

	for (i = nbuffered - 1; i >= 0; i--)
	{
		if (buffered[i].seqid == seqid && buffered[i].queue == queue)
			return i;
	}
	return -1;
}

/*
 * Prepare to fold into the buffered change at position index, and return
 * it.  Fails, as the statement on the queue table would find no row, when
 * the change was dropped already.
 *
 * The change is always the current subtransaction's own, so should that
 * abort, the folded change goes with it.  It cannot be an ancestor's: that
 * would take an event that fires in this subtransaction, for a row version
 * older than one whose change an ancestor logged and still buffers, that
 * is, during a statement end still running in that ancestor.  But such an
 * end fires its events in the ancestor; events fire in a subtransaction
 * only for statements run in it (whose rows are newer), or when SET
 * CONSTRAINTS fires deferred ones, in the order they were queued.
 */
static BufferedChange *
alter_buffered_change(int index)
{
	BufferedChange *change = &buffered[index];

	if (change->dropped)
		elog(ERROR, "dbmirror found no logged change " INT64_FORMAT " to fold into",
			 change->seqid);
	if (change->subid != GetCurrentSubTransactionId())
		elog(ERROR, "dbmirror cannot fold into buffered change " INT64_FORMAT
			 " of an enclosing subtransaction", change->seqid);
	return change;
}

/*
 * Does a value of this type print differently under another lc_monetary?
 * True for money and for anything built on it.
 */
static bool
type_uses_money(Oid typid, int depth)
{
	Oid			elemtype;
	char		typtype;
	bool		result = false;

	check_stack_depth();
	if (depth > 32)
		return true;			/* absurd nesting: be safe, not fast */

	typid = getBaseType(typid);
	if (typid == CASHOID)
		return true;

	elemtype = get_element_type(typid);
	if (OidIsValid(elemtype))
		return type_uses_money(elemtype, depth + 1);

	typtype = get_typtype(typid);
	if (typtype == TYPTYPE_RANGE)
		return type_uses_money(get_range_subtype(typid), depth + 1);
	if (typtype == TYPTYPE_MULTIRANGE)
		return type_uses_money(get_multirange_range(typid), depth + 1);
	if (typtype == TYPTYPE_COMPOSITE)
	{
		TupleDesc	tupdesc = lookup_rowtype_tupdesc(typid, -1);
		int			i;

		for (i = 0; i < tupdesc->natts && !result; i++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, i);

			if (!att->attisdropped)
				result = type_uses_money(att->atttypid, depth + 1);
		}
		ReleaseTupleDesc(tupdesc);
	}
	return result;
}

/*
 * Return the primary key columns of rel in ascending attnum order, or NIL.
 * Like tcn.c, read indisprimary from the index list, so a deferrable
 * primary key counts too, and stop at indnkeyatts so INCLUDE columns stay
 * out.
 */
static List *
primary_key_columns(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	indextup;
		Form_pg_index index;
		int			i;

		indextup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		if (!HeapTupleIsValid(indextup))
			elog(ERROR, "cache lookup failed for index %u", indexoid);
		index = (Form_pg_index) GETSTRUCT(indextup);
		if (index->indisprimary)
		{
			for (i = 0; i < index->indnkeyatts; i++)
			{
				AttrNumber	attnum = index->indkey.values[i];

				if (attnum <= 0)
					elog(ERROR, "primary key of \"%s\" has an expression column",
						 RelationGetRelationName(rel));
				result = lappend_int(result, attnum);
			}
			ReleaseSysCache(indextup);
			break;
		}
		ReleaseSysCache(indextup);
	}
	list_free(indexes);

	list_sort(result, list_int_cmp);
	return result;
}

/*
 * Which output functions append_pair() may stand in for: those whose text
 * it makes byte for byte the same, whatever the settings.
 */
static OutputKind
output_kind(Oid outfunc)
{
	switch (outfunc)
	{
		case F_INT2OUT:
			return OUTPUT_INT2;
		case F_INT4OUT:
			return OUTPUT_INT4;
		case F_INT8OUT:
			return OUTPUT_INT8;
		case F_BOOLOUT:
			return OUTPUT_BOOL;
		case F_TEXTOUT:
		case F_VARCHAROUT:
		case F_BPCHAROUT:
			return OUTPUT_TEXT;
		default:
			return OUTPUT_GENERIC;
	}
}

/*
 * Fill a cache entry from the catalog: quoted name, columns with their
 * labels and output functions, primary key.
 */
static void
build_relation(CaptureRelation *crel, Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	MemoryContext oldcontext;
	char	   *nspname;
	List	   *keys;
	ListCell   *lc;
	int			i;

	if (crel->context != NULL)
		MemoryContextDelete(crel->context);
	crel->context = AllocSetContextCreate(relation_cache_context,
										  "dbmirror relation",
										  ALLOCSET_SMALL_SIZES);
	crel->valid = false;
	oldcontext = MemoryContextSwitchTo(crel->context);

	nspname = get_namespace_name(RelationGetNamespace(rel));
	if (nspname == NULL)
		elog(ERROR, "cache lookup failed for namespace %u",
			 RelationGetNamespace(rel));
	crel->table_name =
		cstring_to_text(quote_qualified_identifier(nspname,
												   RelationGetRelationName(rel)));

	crel->natts = tupdesc->natts;
	crel->columns = palloc0(sizeof(CaptureColumn) * Max(tupdesc->natts, 1));
	crel->uses_money = false;
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		CaptureColumn *col = &crel->columns[i];
		StringInfoData label;
		const char *p;
		Oid			outfunc;
		bool		isvarlena;

		if (att->attisdropped)
			continue;

		/* "name"=, an embedded " doubled */
		initStringInfo(&label);
		appendStringInfoChar(&label, '"');
		for (p = NameStr(att->attname); *p; p++)
		{
			if (*p == '"')
				appendStringInfoChar(&label, '"');
			appendStringInfoChar(&label, *p);
		}
		appendStringInfoString(&label, "\"=");
		col->label = label.data;
		col->label_len = label.len;

		getTypeOutputInfo(att->atttypid, &outfunc, &isvarlena);
		fmgr_info_cxt(outfunc, &col->output, crel->context);
		col->kind = output_kind(outfunc);

		col->written = (att->attgenerated == '\0');
		col->typlen = att->attlen;
		col->typbyval = att->attbyval;
		if (col->written && type_uses_money(att->atttypid, 0))
			crel->uses_money = true;
	}

	keys = primary_key_columns(rel);
	crel->has_primary_key = (keys != NIL);
	crel->nkeys = list_length(keys);
	crel->keys = palloc(sizeof(AttrNumber) * Max(crel->nkeys, 1));
	i = 0;
	foreach(lc, keys)
	{
		AttrNumber	attnum = lfirst_int(lc);

		if (attnum > tupdesc->natts ||
			TupleDescAttr(tupdesc, attnum - 1)->attisdropped)
			elog(ERROR, "primary key of \"%s\" names a missing column %d",
				 RelationGetRelationName(rel), attnum);
		crel->keys[i++] = attnum;
		crel->columns[attnum - 1].in_key = true;
	}

	MemoryContextSwitchTo(oldcontext);
	crel->valid = true;
}

/*
 * Return the cache entry of rel, (re)built if it is new or stale.
 */
static CaptureRelation *
get_relation(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	CaptureRelation *crel;
	bool		found;

	if (relation_cache == NULL)
	{
		HASHCTL		ctl;

		relation_cache_context = AllocSetContextCreate(CacheMemoryContext,
													   "dbmirror relation cache",
													   ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CaptureRelation);
		ctl.hcxt = relation_cache_context;
		relation_cache = hash_create("dbmirror relation cache", 64, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	crel = hash_search(relation_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		crel->valid = false;
		crel->context = NULL;
	}
	if (!crel->valid || crel->natts != RelationGetDescr(rel)->natts)
		build_relation(crel, rel);
	return crel;
}

/*
 * Append len bytes of a value quoted per docs/FORMAT.md: in single quotes,
 * with every ' and \ doubled, then the pair's closing space.
 */
static void
append_quoted_value(StringInfo buf, const char *value, int len)
{
	const char *end = value + len;
	const char *p;
	char	   *out;
	int			specials = 0;

	for (p = value; p < end; p++)
	{
		if (*p == '\'' || *p == '\\')
			specials++;
	}
	enlargeStringInfo(buf, len + specials + 3);
	out = buf->data + buf->len;
	*out++ = '\'';
	if (specials == 0)
	{
		memcpy(out, value, len);
		out += len;
	}
	else
	{
		for (p = value; p < end; p++)
		{
			if (*p == '\'' || *p == '\\')
				*out++ = *p;
			*out++ = *p;
		}
	}
	*out++ = '\'';
	*out++ = ' ';
	*out = '\0';
	buf->len = out - buf->data;
}

/*
 * Append one "name"=value pair of the slot's column attnum.  The value is
 * the type's output function's text; for the types of OutputKind the same
 * text is made here, without the call.
 */
static void
append_pair(StringInfo buf, CaptureColumn *col, TupleTableSlot *slot,
			AttrNumber attnum)
{
	Datum		value = slot->tts_values[attnum - 1];
	char		digits[MAXINT8LEN + 1];
	int			len;

	appendBinaryStringInfo(buf, col->label, col->label_len);
	if (slot->tts_isnull[attnum - 1])
	{
		appendStringInfoChar(buf, ' ');
		return;
	}

	switch (col->kind)
	{
		case OUTPUT_INT2:
			len = pg_itoa(DatumGetInt16(value), digits);
			append_quoted_value(buf, digits, len);
			break;
		case OUTPUT_INT4:
			len = pg_ltoa(DatumGetInt32(value), digits);
			append_quoted_value(buf, digits, len);
			break;
		case OUTPUT_INT8:
			len = pg_lltoa(DatumGetInt64(value), digits);
			append_quoted_value(buf, digits, len);
			break;
		case OUTPUT_BOOL:
			append_quoted_value(buf, DatumGetBool(value) ? "t" : "f", 1);
			break;
		case OUTPUT_TEXT:
			{
				struct varlena *stored = (struct varlena *) DatumGetPointer(value);
				struct varlena *plain = pg_detoast_datum_packed(stored);

				append_quoted_value(buf, VARDATA_ANY(plain),
									VARSIZE_ANY_EXHDR(plain));
				if (plain != stored)
					pfree(plain);
			}
			break;
		case OUTPUT_GENERIC:
			{
				char	   *text = OutputFunctionCall(&col->output, value);

				append_quoted_value(buf, text, strlen(text));
			}
			break;
	}
}

/*
 * Whether column i holds another value in after than in before.  The
 * stored bytes are compared, so a value stored differently (compressed or
 * toasted on one side only) counts as changed: the column is then written
 * though it need not be, never left out though it changed.
 */
static bool
value_changed(CaptureColumn *col, TupleTableSlot *before,
			  TupleTableSlot *after, int i)
{
	if (before->tts_isnull[i] || after->tts_isnull[i])
		return before->tts_isnull[i] != after->tts_isnull[i];
	return !datumIsEqual(before->tts_values[i], after->tts_values[i],
						 col->typbyval, col->typlen);
}

/*
 * Encode a row of slot as a text datum: every written column, only the
 * primary key (key_only), or, given the row before an update, the primary
 * key and then the other columns the update changed (docs/FORMAT.md).  With
 * to_buffer, the result is a copy in the change buffer's memory, built in a
 * StringInfo kept for the purpose; otherwise it is palloc'd in the current
 * context.  Either way the StringInfo starts with room for the varlena
 * header.
 */
static text *
encode_row(CaptureRelation *crel, TupleTableSlot *slot, bool key_only,
		   TupleTableSlot *before, bool to_buffer)
{
	StringInfoData fresh;
	StringInfo	buf;
	int			i;

	/* the kept StringInfo, unless an output function made us re-enter */
	if (to_buffer && !encode_buffer_busy)
	{
		if (encode_buffer.data == NULL)
		{
			MemoryContext oldcontext = MemoryContextSwitchTo(TopMemoryContext);

			initStringInfo(&encode_buffer);
			MemoryContextSwitchTo(oldcontext);
		}
		buf = &encode_buffer;
		resetStringInfo(buf);
		encode_buffer_busy = true;
	}
	else
	{
		buf = &fresh;
		initStringInfo(buf);
	}

	slot_getallattrs(slot);
	appendStringInfoSpaces(buf, VARHDRSZ);
	if (key_only)
	{
		for (i = 0; i < crel->nkeys; i++)
			append_pair(buf, &crel->columns[crel->keys[i] - 1], slot,
						crel->keys[i]);
	}
	else if (before != NULL)
	{
		/* the key first: an 'U' change's reader takes its first pair */
		for (i = 0; i < crel->nkeys; i++)
			append_pair(buf, &crel->columns[crel->keys[i] - 1], slot,
						crel->keys[i]);
		slot_getallattrs(before);
		for (i = 0; i < crel->natts; i++)
		{
			CaptureColumn *col = &crel->columns[i];

			if (col->written && !col->in_key &&
				value_changed(col, before, slot, i))
				append_pair(buf, col, slot, i + 1);
		}
	}
	else
	{
		for (i = 0; i < crel->natts; i++)
		{
			if (crel->columns[i].written)
				append_pair(buf, &crel->columns[i], slot, i + 1);
		}
	}
	SET_VARSIZE(buf->data, buf->len);

	if (!to_buffer)
		return (text *) buf->data;
	if (buf == &encode_buffer)
	{
		encode_buffer_busy = false;
		/* don't keep a huge buffer around after a huge row */
		if (buf->maxlen > 1024 * 1024)
		{
			text	   *row = buffer_text((text *) buf->data);

			pfree(buf->data);
			buf->data = NULL;
			return row;
		}
	}
	return buffer_text((text *) buf->data);
}

/*
 * Switch the settings that shape output values to the fixed ones of
 * docs/FORMAT.md, but only those the session changed: reading a few
 * globals costs nothing, setting a GUC does.  Returns the GUC nest level
 * to restore with AtEOXact_GUC(), or -1 when nothing was switched.
 *
 * Only the output style matters: ISO dates print the same whatever the
 * date order, and any positive extra_float_digits prints the shortest
 * exact float, so those are the conditions tested.
 */
static int
use_fixed_output_settings(CaptureRelation *crel)
{
	int			nestlevel = -1;

#define SWITCH_SETTING(name, value) \
	do { \
		if (nestlevel < 0) \
			nestlevel = NewGUCNestLevel(); \
		(void) set_config_option((name), (value), PGC_USERSET, PGC_S_SESSION, \
								 GUC_ACTION_SAVE, true, 0, false); \
	} while (0)

	if (DateStyle != USE_ISO_DATES)
		SWITCH_SETTING("datestyle", "ISO, YMD");
	if (IntervalStyle != INTSTYLE_POSTGRES)
		SWITCH_SETTING("intervalstyle", "postgres");
	if (extra_float_digits <= 0)
		SWITCH_SETTING("extra_float_digits", "3");
	if (bytea_output != BYTEA_OUTPUT_HEX)
		SWITCH_SETTING("bytea_output", "hex");
	if (crel->uses_money && strcmp(locale_monetary, "C") != 0)
		SWITCH_SETTING("lc_monetary", "C");

#undef SWITCH_SETTING

	return nestlevel;
}

/*
 * What became of the tuple at tid, which this transaction wrote: still
 * live, or updated (*next is then the newer version) or deleted by this
 * same transaction.  Reads the live tuple header by tid: a lock-only xmax
 * does not count, nor does the xmax of an aborted subtransaction
 * (TransactionIdIsCurrentTransactionId is false for it).  Without tids to
 * follow (another table access method) every tuple counts as live.
 */
static TupleFate
tuple_fate(Relation rel, ItemPointer tid, ItemPointer next)
{
	HeapTupleData tuple;
	Buffer		buffer;
	TupleFate	fate = TUPLE_LIVE;

	if (rel->rd_rel->relam != HEAP_TABLE_AM_OID)
		return TUPLE_LIVE;

	tuple.t_self = *tid;
	if (!heap_fetch(rel, SnapshotAny, &tuple, &buffer, true))
	{
		if (BufferIsValid(buffer))
			ReleaseBuffer(buffer);
		return TUPLE_LIVE;
	}

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	if (!(tuple.t_data->t_infomask & HEAP_XMAX_INVALID) &&
		!HEAP_XMAX_IS_LOCKED_ONLY(tuple.t_data->t_infomask))
	{
		TransactionId xmax = HeapTupleHeaderGetUpdateXid(tuple.t_data);

		if (TransactionIdIsValid(xmax) &&
			TransactionIdIsCurrentTransactionId(xmax))
		{
			if (HeapTupleHeaderIndicatesMovedPartitions(tuple.t_data) ||
				ItemPointerEquals(&tuple.t_data->t_ctid, tid))
				fate = TUPLE_DELETED;
			else
			{
				*next = tuple.t_data->t_ctid;
				fate = TUPLE_UPDATED;
			}
		}
	}
	UnlockReleaseBuffer(buffer);
	return fate;
}

/*
 * Fill the hash key for the tuple at tid.
 */
static void
make_logged_change_key(LoggedChangeKey *key, CaptureQueue *queue,
					   Relation rel, ItemPointer tid)
{
	memset(key, 0, sizeof(LoggedChangeKey));	/* padding is hashed too */
	key->namespace_oid = queue->namespace_oid;
	key->relid = RelationGetRelid(rel);
	key->relfilenode = rel->rd_node.relNode;
	key->tid = *tid;
}

/*
 * Enter (or overwrite) the hash entry for the tuple at tid, written by the
 * current subtransaction.
 */
static LoggedChange *
enter_logged_change(CaptureQueue *queue, Relation rel, ItemPointer tid)
{
	LoggedChangeKey key;
	LoggedChange *change;

	if (logged_changes == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(LoggedChangeKey);
		ctl.entrysize = sizeof(LoggedChange);
		ctl.hcxt = TopTransactionContext;
		logged_changes = hash_create("dbmirror logged changes", 64, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	make_logged_change_key(&key, queue, rel, tid);
	change = hash_search(logged_changes, &key, HASH_ENTER, NULL);
	change->absorbed = false;
	change->op = '\0';
	change->seqid = 0;
	change->subid = GetCurrentSubTransactionId();
	if (change->subid > logged_changes_max_subid)
		logged_changes_max_subid = change->subid;
	return change;
}

/*
 * Remember a logged update or delete whose old tuple is at tid.
 */
static void
remember_logged_change(CaptureQueue *queue, Relation rel, ItemPointer tid,
					   int64 seqid, char op)
{
	LoggedChange *change = enter_logged_change(queue, rel, tid);

	change->seqid = seqid;
	change->op = op;
}

/*
 * Return the hash entry for the tuple at tid, or NULL.
 */
static LoggedChange *
find_logged_change(CaptureQueue *queue, Relation rel, ItemPointer tid)
{
	LoggedChangeKey key;

	make_logged_change_key(&key, queue, rel, tid);
	return hash_search(logged_changes, &key, HASH_FIND, NULL);
}

/*
 * Forget the hash entry for the tuple at tid.
 */
static void
forget_logged_change(CaptureQueue *queue, Relation rel, ItemPointer tid)
{
	LoggedChangeKey key;

	make_logged_change_key(&key, queue, rel, tid);
	hash_search(logged_changes, &key, HASH_REMOVE, NULL);
}

/*
 * Was the tuple old, the old row of an update or delete, written by this
 * transaction?  Only then can an earlier change to the row still fire
 * later, so only then is the change remembered.
 */
static bool
written_by_this_transaction(HeapTuple old)
{
	return TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(old->t_data));
}

/*
 * Note that the transaction queued a change, for the pre-commit
 * notification.
 */
static void
note_queued_change(void)
{
	if (notify_subid == InvalidSubTransactionId)
		notify_subid = GetCurrentSubTransactionId();
}

/*
 * Record a snapshot of the master in "PendingMark" (see MARK_INTERVAL).
 * A queue set up before marks existed has no such table and gets none.
 */
static void
write_mark(CaptureQueue *queue, int64 seqid)
{
	Datum		values[2];

	if (!OidIsValid(get_relname_relid("PendingMark", queue->namespace_oid)))
		return;
	values[0] = Int64GetDatum(seqid);
	values[1] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	run_queue_statement(queue, PLAN_MARK, values, SPI_OK_INSERT, 1);
}

/*
 * An insert or update event fires.  If the row has changed again since,
 * and a later change of it is already logged, merge this event into the
 * first such change instead of logging it after it, and return true.
 * Return false when there is nothing to merge into: the event is then
 * logged as usual, before the later changes that fire later.
 *
 * From the event's new tuple, follow the row's versions written by this
 * transaction until one starts a logged change:
 *
 *   update then update/delete: the logged change now starts from this
 *       event's old key;
 *   insert then update: the logged update becomes an insert of its row;
 *   insert then delete: the logged delete goes, nothing happened.
 *
 * When the logged change starts further on, the events between (which
 * have not fired, or they would be logged, or merged, themselves) are
 * covered by the merged change too: their new tuples are entered as
 * "absorbed", and those events are dropped when they fire.
 */
static bool
fold_into_logged_change(CaptureQueue *queue, CaptureRelation *crel,
						Relation rel, HeapTuple newtuple,
						HeapTuple oldtuple, TupleTableSlot *oldslot)
{
	ItemPointerData tid = newtuple->t_self;
	ItemPointerData next;
	List	   *gap = NIL;
	ListCell   *lc;
	LoggedChange *change;
	Datum		values[3];
	int64		seqid;
	char		op;
	int			index;

	/* with nothing remembered there is nothing to merge into */
	if (logged_changes == NULL || hash_get_num_entries(logged_changes) == 0)
		return false;

	for (;;)
	{
		TupleFate	fate = tuple_fate(rel, &tid, &next);

		if (fate == TUPLE_LIVE)
			return false;
		change = find_logged_change(queue, rel, &tid);
		if (change != NULL)
			break;
		if (fate == TUPLE_DELETED)
			return false;
		tid = next;
		gap = lappend(gap, palloc(sizeof(ItemPointerData)));
		*(ItemPointer) llast(gap) = next;
	}

	if (change->absorbed)
	{
		/* an absorbed tuple is the new tuple of exactly one event: this one */
		if (gap != NIL)
			elog(ERROR, "dbmirror found an absorbed change past unlogged versions");
		forget_logged_change(queue, rel, &tid);
		return true;
	}

	seqid = change->seqid;
	op = change->op;
	if (gap == NIL)
		forget_logged_change(queue, rel, &tid);
	else
	{
		foreach(lc, gap)
			enter_logged_change(queue, rel, (ItemPointer) lfirst(lc))->absorbed = true;
	}

	/* the logged change is still buffered, or in the queue tables */
	index = find_buffered_change(queue, seqid);
	values[0] = Int64GetDatum(seqid);
	if (oldtuple != NULL)
	{
		int			nestlevel = use_fixed_output_settings(crel);
		text	   *key = encode_row(crel, oldslot, true, NULL, false);

		if (nestlevel >= 0)
			AtEOXact_GUC(true, nestlevel);
		if (index >= 0)
		{
			BufferedChange *logged = alter_buffered_change(index);

			if (logged->key == NULL)
				elog(ERROR, "dbmirror found no key row of logged change " INT64_FORMAT,
					 seqid);
			logged->key = buffer_text(key);
		}
		else
		{
			values[1] = PointerGetDatum(key);
			run_queue_statement(queue, PLAN_SET_KEY, values, SPI_OK_UPDATE, 1);
		}
		if (written_by_this_transaction(oldtuple))
			remember_logged_change(queue, rel, &oldtuple->t_self, seqid, op);
	}
	else if (op == 'u')
	{
		if (index >= 0)
		{
			BufferedChange *logged = alter_buffered_change(index);

			logged->op = 'i';
			logged->key = NULL;
		}
		else
		{
			values[1] = FullTransactionIdGetDatum(GetTopFullTransactionId());
			values[2] = CharGetDatum('i');
			run_queue_statement(queue, PLAN_MAKE_INSERT, values, SPI_OK_UPDATE, 1);
		}
	}
	else
	{
		if (index >= 0)
			alter_buffered_change(index)->dropped = true;
		else
		{
			values[1] = FullTransactionIdGetDatum(GetTopFullTransactionId());
			run_queue_statement(queue, PLAN_DROP_CHANGE, values, SPI_OK_DELETE, 1);
		}
	}
	list_free_deep(gap);
	return true;
}

/*
 * Check that recordchange() was fired the way it must be: AFTER, FOR EACH
 * ROW on INSERT, UPDATE and DELETE, FOR EACH STATEMENT on TRUNCATE.
 */
static void
check_trigger_protocol(FunctionCallInfo fcinfo)
{
	TriggerData *trigdata;
	TriggerEvent event;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"recordchange\" was not called by trigger manager")));

	trigdata = (TriggerData *) fcinfo->context;
	event = trigdata->tg_event;

	if (!TRIGGER_FIRED_AFTER(event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"recordchange\" must be fired AFTER the change"),
				 errdetail("Trigger \"%s\" on table \"%s\" fires %s.",
						   trigdata->tg_trigger->tgname,
						   RelationGetRelationName(trigdata->tg_relation),
						   TRIGGER_FIRED_BEFORE(event) ? "BEFORE" : "INSTEAD OF")));

	if (TRIGGER_FIRED_BY_TRUNCATE(event))
	{
		if (!TRIGGER_FIRED_FOR_STATEMENT(event))
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("function \"recordchange\" must be fired FOR EACH STATEMENT on TRUNCATE")));
	}
	else if (!TRIGGER_FIRED_FOR_ROW(event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"recordchange\" must be fired FOR EACH ROW on INSERT, UPDATE and DELETE"),
				 errdetail("Trigger \"%s\" on table \"%s\" fires FOR EACH STATEMENT.",
						   trigdata->tg_trigger->tgname,
						   RelationGetRelationName(trigdata->tg_relation))));
}

/*
 * recordchange: the capture trigger.
 */
Datum
recordchange(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	TriggerEvent event;
	Relation	rel;
	CaptureQueue *queue;
	CaptureRelation *crel;
	HeapTuple	oldtuple = NULL;
	HeapTuple	newtuple = NULL;
	TupleTableSlot *oldslot = NULL;
	TupleTableSlot *newslot = NULL;
	char		op;
	text	   *key = NULL;
	text	   *data = NULL;
	bool		plain;
	int64		seqid;

	check_trigger_protocol(fcinfo);
	trigdata = (TriggerData *) fcinfo->context;
	event = trigdata->tg_event;
	rel = trigdata->tg_relation;

	register_callbacks();
	queue = get_queue(fcinfo->flinfo->fn_oid);
	crel = get_relation(rel);

	if (!crel->has_primary_key)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no primary key",
						RelationGetRelationName(rel)),
				 errdetail("Trigger \"%s\" captures its changes for dbmirror, and the slaves find rows by primary key.",
						   trigdata->tg_trigger->tgname),
				 errhint("Add a primary key to the table.")));

	if (TRIGGER_FIRED_BY_INSERT(event))
	{
		op = 'i';
		newtuple = trigdata->tg_trigtuple;
		newslot = trigdata->tg_trigslot;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(event))
	{
		op = 'u';
		oldtuple = trigdata->tg_trigtuple;
		oldslot = trigdata->tg_trigslot;
		newtuple = trigdata->tg_newtuple;
		newslot = trigdata->tg_newslot;
	}
	else if (TRIGGER_FIRED_BY_DELETE(event))
	{
		op = 'd';
		oldtuple = trigdata->tg_trigtuple;
		oldslot = trigdata->tg_trigslot;
	}
	else if (TRIGGER_FIRED_BY_TRUNCATE(event))
		op = 't';
	else
		elog(ERROR, "recordchange fired by unknown event %u", event);

	/* a change already superseded by a logged one is folded into it */
	if (newtuple != NULL &&
		fold_into_logged_change(queue, crel, rel, newtuple, oldtuple, oldslot))
		return PointerGetDatum(NULL);	/* already noted by the logged change */

	/* a plain queue takes changes buffered, others by statements at once */
	plain = queue_is_plain(queue);

	if (op != 't')
	{
		int			nestlevel = use_fixed_output_settings(crel);

		/*
		 * An update of a row written before this transaction carries only
		 * the key and the columns it changed: less to print here, to queue,
		 * to send and to set on the slave.  A row this transaction wrote
		 * may still have a change merged into this one (see
		 * fold_into_logged_change()), which takes the logged new row as the
		 * whole result, so that one is written in full.
		 */
		bool		partial = (op == 'u' && !written_by_this_transaction(oldtuple));

		/*
		 * Such an update that keeps a one-column key needs no key row: it is
		 * logged as 'U', and its new row starts with the key.  One queue row
		 * fewer per update, the most common change there is.
		 */
		if (partial && crel->nkeys == 1)
		{
			int			k = crel->keys[0] - 1;

			slot_getallattrs(oldslot);
			slot_getallattrs(newslot);
			if (!value_changed(&crel->columns[k], oldslot, newslot, k))
				op = 'U';
		}

		if (oldslot != NULL && op != 'U')
			key = encode_row(crel, oldslot, true, NULL, plain);
		if (newslot != NULL)
			data = encode_row(crel, newslot, false, partial ? oldslot : NULL, plain);
		if (nestlevel >= 0)
			AtEOXact_GUC(true, nestlevel);
	}

	seqid = nextval_internal(queue->sequence_relid, false);
	if (plain)
		buffer_change(queue, seqid, crel->table_name, op, key, data);
	else
	{
		Datum		change[4];

		change[0] = Int64GetDatum(seqid);
		/* a nested capture may rebuild crel: keep our own copy of the name */
		change[1] = PointerGetDatum(DatumGetTextPCopy(PointerGetDatum(crel->table_name)));
		change[2] = CharGetDatum(op);
		change[3] = FullTransactionIdGetDatum(GetTopFullTransactionId());
		log_change(queue, change, key, data);
	}

	if (oldtuple != NULL && written_by_this_transaction(oldtuple))
		remember_logged_change(queue, rel, &oldtuple->t_self, seqid, op);

	note_queued_change();
	if (++xact_changes <= MARK_MAX_OWN_CHANGES && seqid % MARK_INTERVAL == 0)
		write_mark(queue, seqid);

	if (nbuffered >= BUFFER_MAX_CHANGES || buffered_bytes >= BUFFER_MAX_BYTES)
		flush_changes();
	return PointerGetDatum(NULL);
}

/*
 * dbmirror_queue_format: the queue format this capture writes.
 */
Datum
dbmirror_queue_format(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(QUEUE_FORMAT);
}
