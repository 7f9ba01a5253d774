"""An external GraphQL client against roster: Python's `gql` (graphql-core
underneath), which no one here wrote. It fetches the schema by
introspection and validates every operation against it before sending, then
runs one query and one mutation over HTTP (aiohttp) and one subscription
over a WebSocket (graphql-transport-ws), checking what comes back.

Usage: graphql_client.py BASE_URL TOKEN
"""

import asyncio
import sys
import uuid

from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.websockets import WebsocketsTransport

BASE, TOKEN = sys.argv[1], sys.argv[2]
URL = f"{BASE}/api/v1/graphql"

QUERY = gql("""
query Page($first: Int) {
  me { email }
  users(first: $first, sort: EMAIL) {
    edges { cursor node { id email roles groups { name } } }
    pageInfo { hasNextPage endCursor }
  }
}
""")

CREATE = gql("""
mutation Create($input: CreateUserInput!) {
  createUser(input: $input) { id email name version }
}
""")

EVENTS = gql("""
subscription Follow {
  events(types: ["user.created"]) { id type subjectId user { email } }
}
""")


async def main() -> None:
    http = AIOHTTPTransport(url=URL, headers={"Authorization": f"Bearer {TOKEN}"})
    async with Client(transport=http, fetch_schema_from_transport=True) as session:
        page = await session.execute(QUERY, variable_values={"first": 5})
        assert page["me"]["email"], page
        assert page["users"]["edges"], page
        print(f"query: {len(page['users']['edges'])} users, me = {page['me']['email']}")

        ws = WebsocketsTransport(
            url=URL.replace("http", "ws", 1),
            init_payload={"Authorization": f"Bearer {TOKEN}"},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
        email = f"gql-{uuid.uuid4().hex[:8]}@example.com"
        async with Client(transport=ws) as stream:
            received: asyncio.Future = asyncio.get_running_loop().create_future()

            async def follow() -> None:
                async for event in stream.subscribe(EVENTS):
                    if event["events"]["user"]["email"] == email:
                        received.set_result(event["events"])
                        return

            follower = asyncio.create_task(follow())
            # The server has the subscription once it answers on the socket;
            # give it a moment before the write it must report.
            await asyncio.sleep(0.5)
            created = await session.execute(
                CREATE, variable_values={"input": {"email": email, "name": "Grace"}}
            )
            user = created["createUser"]
            assert user["email"] == email and user["version"] == 1, created
            print(f"mutation: created {user['id']}")
            event = await asyncio.wait_for(received, timeout=10)
            assert event["type"] == "user.created", event
            assert event["subjectId"] == user["id"], event
            print(f"subscription: event {event['id']} {event['type']} for {event['subjectId']}")
            await follower


asyncio.run(main())
