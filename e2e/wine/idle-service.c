/* A Windows service that does nothing but run until it is told to stop: what the Wine
   lane installs under the eSync Apache's service name, so the agent's restart through the
   service control manager has a real service to stop, start and wait for. Built with
   Debian's MinGW by the test itself. Each start appends a line to
   C:\certfleet-test\idle-service.starts, so the test can count the restarts. */
#include <windows.h>

static SERVICE_STATUS_HANDLE handle;
static HANDLE stop_event;
static SERVICE_STATUS status = {SERVICE_WIN32_OWN_PROCESS, SERVICE_START_PENDING, 0, 0, 0, 0, 0};

static void report(DWORD state) {
    status.dwCurrentState = state;
    status.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP : 0;
    SetServiceStatus(handle, &status);
}

static DWORD WINAPI control(DWORD code, DWORD type, LPVOID data, LPVOID context) {
    (void)type; (void)data; (void)context;
    if (code == SERVICE_CONTROL_STOP) {
        report(SERVICE_STOP_PENDING);
        SetEvent(stop_event);
    }
    return NO_ERROR;
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv) {
    (void)argc;
    handle = RegisterServiceCtrlHandlerExW(argv[0], control, NULL);
    if (!handle) return;
    stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    HANDLE starts = CreateFileW(L"C:\\certfleet-test\\idle-service.starts", FILE_APPEND_DATA,
                                FILE_SHARE_READ, NULL, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (starts != INVALID_HANDLE_VALUE) {
        DWORD written;
        WriteFile(starts, "started\r\n", 9, &written, NULL);
        CloseHandle(starts);
    }
    report(SERVICE_RUNNING);
    WaitForSingleObject(stop_event, INFINITE);
    report(SERVICE_STOPPED);
}

int main(void) {
    SERVICE_TABLE_ENTRYW table[] = {{L"", service_main}, {NULL, NULL}};
    return StartServiceCtrlDispatcherW(table) ? 0 : 1;
}
