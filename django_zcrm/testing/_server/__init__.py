"""The fake server's plumbing (private: import from :mod:`django_zcrm.testing.server` instead).

``clock`` (FakeClock), ``messages`` (FakeRequest, FakeResponse, Headers, the answer helpers),
``transport`` (threaded socket server and HTTP handler), ``counters`` (answered requests,
connections, requests in flight and peaks), ``faults`` (what ``FakeZoho.inject`` plans and answers).
:class:`~django_zcrm.testing.server.FakeZoho` ties them together with the route table.
"""
