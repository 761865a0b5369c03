"""Creates, or brings up to date, the read-only MLflow user that model servers sign in with.

Run by the MlflowServer component's Job (components/mlflowServer.ts) once the server is ready, and by
tests/integration/mlflowServer.test.ts against a real MLflow 3.17.2 with the basic-auth app. Only the
standard library, so that any Python of the MLflow image runs it.

Environment (all required; the passwords come from Secrets through secretKeyRef, never from args):
    MLFLOW_TRACKING_URI      the server, e.g. http://mlflow.mlflow.svc.cluster.local:5000
    MLFLOW_ADMIN_USERNAME    an admin of the basic-auth app
    MLFLOW_ADMIN_PASSWORD
    READER_USERNAME          the user to create or update
    READER_PASSWORD          at least 12 characters (MLflow's password policy)
Optional:
    WAIT_SECONDS             how long to wait for GET /health to answer 200 (default 300)

Idempotent. Creates the user, or sets its password when it exists, so that a password changed through
Pulumi takes effect. Then makes sure the user holds READ on every experiment and every registered model
(wildcard grants): model servers can read registered models, versions, runs and artifacts even when the
server's default_permission is NO_PERMISSIONS, and a READ grant gives no right to change anything that
exists. Finally signs in as the user to prove the password works. Refuses to touch a user that is an
admin. Prints what it did and never a password or a response body that could hold one.
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

READ_GRANTS = ("experiment", "registered_model")
RETRYABLE_STATUSES = (502, 503, 504)


class Failure(Exception):
    pass


def env(name):
    value = os.environ.get(name, "")
    if not value:
        raise Failure(f"the environment variable {name} is missing or empty")
    return value


class Server:
    def __init__(self, base_url, username, password):
        self.base_url = base_url.rstrip("/")
        token = base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")
        self.authorization = f"Basic {token}"

    def call(self, method, path, query=None, body=None, attempts=5):
        """(status, parsed JSON or None). Retries what a rolling server answers while it restarts."""
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Authorization": self.authorization, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(1, attempts + 1):
            request = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, parse(response.read())
            except urllib.error.HTTPError as error:
                if error.code not in RETRYABLE_STATUSES or attempt == attempts:
                    return error.code, parse(error.read())
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == attempts:
                    raise Failure(f"{method} {path}: no answer from {self.base_url} ({reason(error)})")
            time.sleep(2 * attempt)
        raise AssertionError("unreachable")


def parse(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def reason(error):
    return str(getattr(error, "reason", error))


def error_code(payload):
    return payload.get("error_code") if isinstance(payload, dict) else None


def refused(what, status, payload):
    # Only the status and MLflow's error code: a create or update error body can echo the password hash.
    code = error_code(payload)
    return Failure(f"{what}: HTTP {status}" + (f" {code}" if code else ""))


def wait_for_health(base_url, seconds):
    deadline = time.monotonic() + seconds
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base_url.rstrip("/") + "/health", timeout=5) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            last = reason(error)
        time.sleep(3)
    raise Failure(f"{base_url}/health did not answer 200 within {seconds} s (last: {last})")


def ensure_user(admin, username, password):
    """Creates the user or sets its password; returns the user's id."""
    status, payload = admin.call("GET", "/api/2.0/mlflow/users/get", query={"username": username})
    if status == 401:
        raise Failure(
            "the admin credentials were refused (HTTP 401); was the admin's password changed through "
            "MLflow's API? The admin Secret must hold the current one"
        )
    if status == 403:
        raise Failure("the admin user may not read users (HTTP 403): it is not an admin of the basic-auth app")
    if status == 404 and error_code(payload) == "RESOURCE_DOES_NOT_EXIST":
        status, created = admin.call(
            "POST", "/api/2.0/mlflow/users/create", body={"username": username, "password": password}
        )
        if status == 200:
            print(f'registry reader "{username}": created')
            return created["user"]["id"]
        if not (status == 400 and error_code(created) == "RESOURCE_ALREADY_EXISTS"):
            raise refused(f'creating the user "{username}"', status, created)
        # Created by someone else in between: fall through to updating it.
        status, payload = admin.call("GET", "/api/2.0/mlflow/users/get", query={"username": username})
    if status != 200:
        raise refused(f'reading the user "{username}"', status, payload)
    user = payload["user"]
    if user.get("is_admin"):
        raise Failure(f'the user "{username}" is an admin; model servers must not sign in as one, choose another name')
    status, updated = admin.call(
        "PATCH", "/api/2.0/mlflow/users/update-password", body={"username": username, "password": password}
    )
    if status != 200:
        raise refused(f'setting the password of "{username}"', status, updated)
    print(f'registry reader "{username}": existed, password set')
    return user["id"]


def ensure_read_grants(admin, username, user_id):
    status, payload = admin.call("GET", "/api/3.0/mlflow/users/permissions/list", query={"username": username})
    if status != 200:
        raise refused(f'listing the permissions of "{username}"', status, payload)
    # Grants through the grant API live in the user's own synthetic role; roles assigned by people are theirs.
    own_role = f"__user_{user_id}__"
    held = {
        row["resource_type"]: row["permission"]
        for row in payload.get("permissions", [])
        if row.get("role_name") == own_role and row.get("resource_pattern") == "*"
    }
    for resource_type in READ_GRANTS:
        current = held.get(resource_type)
        if current == "READ":
            print(f"READ on every {resource_type}: already granted")
            continue
        grant = {"username": username, "resource_type": resource_type, "resource_id": "*"}
        if current is not None:
            status, answer = admin.call("POST", "/api/3.0/mlflow/users/permissions/revoke", body=grant)
            if status != 200:
                raise refused(f"revoking {current} on every {resource_type}", status, answer)
        status, answer = admin.call("POST", "/api/3.0/mlflow/users/permissions/grant", body={**grant, "permission": "READ"})
        if status != 200:
            raise refused(f"granting READ on every {resource_type}", status, answer)
        print(f"READ on every {resource_type}: granted" + (f" (was {current})" if current else ""))


def verify_sign_in(base_url, username, password):
    status, payload = Server(base_url, username, password).call("GET", "/api/2.0/mlflow/users/current")
    if status != 200:
        raise refused(f'signing in as "{username}" with the new password', status, payload)
    user = payload.get("user", {}) if isinstance(payload, dict) else {}
    if user.get("username") != username or user.get("is_admin"):
        raise Failure(f'signing in as "{username}" answered an unexpected user')
    print(f'registry reader "{username}": signs in, not an admin')


def main():
    base_url = env("MLFLOW_TRACKING_URI")
    admin_username, admin_password = env("MLFLOW_ADMIN_USERNAME"), env("MLFLOW_ADMIN_PASSWORD")
    username, password = env("READER_USERNAME"), env("READER_PASSWORD")
    if username == admin_username:
        raise Failure("READER_USERNAME must not be the admin user")
    if len(password) < 12:
        raise Failure("READER_PASSWORD must be at least 12 characters (MLflow's password policy)")
    wait_for_health(base_url, int(os.environ.get("WAIT_SECONDS") or 300))
    admin = Server(base_url, admin_username, admin_password)
    user_id = ensure_user(admin, username, password)
    ensure_read_grants(admin, username, user_id)
    verify_sign_in(base_url, username, password)


if __name__ == "__main__":
    try:
        main()
    except Failure as failure:
        print(f"registry reader: {failure}", file=sys.stderr)
        sys.exit(1)
