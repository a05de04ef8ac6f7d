"""The fake CRM's implementation (private: import from :mod:`django_zcrm.testing.crm` instead).

:class:`~django_zcrm.testing.crm.FakeCRM` is one object assembled from one class per job; each
handler class declares its routes in a ``ROUTES`` table next to its handlers.

======================  ==========================================================================
module                  job
======================  ==========================================================================
``core``                the org's state (stores, users, ids, attachments), value coercion and the
                        record lifecycle (``_insert``, ``_replace``, ``_delete_record``) with
                        the change hook
``control``             the Python control API tests use (seed, add_records, modify, delete,
                        fail_next, ...)
``request``             what handlers share: authentication, scopes, parameters, paging, rendering
``writes``              validating and applying written items (records and notes)
``records``             routes: list, get, insert, update, upsert, delete, deleted
``search``              routes: search and COQL
``files``               routes: notes, attachments, tags
``related``             routes: related lists, link, delink
``settings``            routes: users, org, modules, fields, layouts, custom views
``dispatch``            registers the route families; wraps each handler (faults, auth, errors)
``routes``              ``Route("METHOD /crm/{version}/...", "_handler")`` and the path placeholders
``faults``              ``fail_next`` plans and their answers
``options``             ``CRMOptions``
``store``               one module's rows with sorted-id caches; ``schema``: modules and fields;
                        ``query``: criteria and COQL compilers; ``seed``: realistic record values;
                        ``meta``: metadata documents; ``util``: time formats, ``CRMFault``, context
======================  ==========================================================================

Imports go one way: ``util``/``schema``/``store``/... <- ``core`` <- ``control`` and ``request`` <-
``writes`` <- route families <- ``django_zcrm.testing.crm`` (which assembles ``FakeCRM``).

Extension points
----------------
*A new route family* (e.g. ``POST /crm/{version}/actions/watch``, or
``POST /crm/bulk/{version}/read`` whose download answers a zip body through ``FakeResponse``):
write a class deriving from ``CRMRequests`` (or ``RecordWriter`` when it writes records) with a
``ROUTES`` tuple and its ``_h_*`` handlers in a new module, add it to ``FakeCRM``'s bases and to
``route_families`` before ``RecordRoutes`` (whose generic ``{module}/{id}`` patterns would
otherwise catch the new paths; ``tests/test_fake_crm.py`` checks that every declared route answers
its own path). A new kind of path segment gets a regex in
``routes.PLACEHOLDERS``. Handlers receive a ``CRMContext`` (authenticated user, scopes, version)
and raise ``CRMFault`` to answer with Zoho's error body.

*Record changes* (e.g. watch callbacks POSTed to a ``notify_url``): every insert, update and delete
of a stored record, from an API call or from the control API, passes through ``CRMCore._insert``,
``CRMCore._replace`` or ``CRMCore._delete_record``, which call each of ``crm.change_listeners``
with a ``RecordChange`` (module, id, operation, source). Listeners run under the CRM lock: a
notifier should queue the change and POST from its own background thread.

*Per-call behaviour* (simulated latency, per-version limits, in-flight counting): every CRM call
runs through ``Router._endpoint``. Handlers hold ``crm._lock`` only while they touch the stores,
so a delay added in ``_endpoint`` outside the lock lets calls overlap for real; the server already counts
requests in flight (``FakeZoho.peak_concurrency``). Version-dependent limits belong in
``CRMOptions`` next to ``coql_max_limit`` and are read through ``ctx.vnum``.
"""
