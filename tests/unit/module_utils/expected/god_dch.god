# Managed by noops.platform.supervisor_config; edits are overwritten on the next deploy.
# noops-name: database-change-handler_production-sd
# noops-backend: god
# noops-command: sh /home/work/database-change-handler/bin/DbEventListener.sh -r
# noops-version: 139594
# noops-reload-signal: HUP
# noops-log: /data/soft/database-change/logs/database-change.log
# noops-crash-loop: 3/600
# noops-notify: proc_down

# Ruby 3 removed Kernel#timeout, which god 0.13's /proc poller still calls.
require 'timeout'
if defined?(God::System::SlashProcPoller)
  class God::System::SlashProcPoller
    def self.readable?(path)
      Timeout.timeout(1) { File.read(path) }
    rescue Timeout::Error
      false
    end
  end
end

# god 0.13 could lose the crash-loop rule's transition: queued operations go before due checks;
# a removed watch's driver ends without a FATAL log line.
if defined?(God::DriverOperation) && !God::TimedEvent.method_defined?(:noops_operations_first)
  class God::TimedEvent
    def noops_operations_first; end

    def <=>(other)
      mine = is_a?(God::DriverOperation) ? 0 : 1
      theirs = other.is_a?(God::DriverOperation) ? 0 : 1
      mine == theirs ? at <=> other.at : mine <=> theirs
    end
  end

  class God::DriverEventQueue
    alias_method :noops_pop, :pop

    def pop
      loop do
        event = noops_pop
        return event if event
        raise ThreadError, 'queue empty' if @shutdown
      end
    end
  end
end

God.watch do |w|
  w.name = 'database-change-handler_production-sd'
  w.interval = 5.seconds
  w.start = 'sh /home/work/database-change-handler/bin/DbEventListener.sh -r'
  w.stop = lambda do
    pid = w.pid
    next unless pid
    begin
      ::Process.kill('TERM', -pid)
    rescue Errno::ESRCH, Errno::EPERM
      ::Process.kill('TERM', pid) rescue nil
    end
    deadline = Time.now + 300
    alive = lambda { |p| (File.read("/proc/#{p}/stat") !~ /\) [ZX] /) rescue false }
    sleep 0.2 while Time.now < deadline && alive.call(pid)
    ::Process.kill('KILL', -pid) rescue nil
  end
  w.stop_timeout = 300.seconds
  w.dir = '/home/work/database-change-handler'
  w.uid = 'root'
  w.gid = 'root'
  w.log = '/data/soft/database-change/logs/database-change.log'
  w.env = {
    'NOOPS_VERSION' => '139594',
  }
  w.start_if do |start|
    start.condition(:process_running) do |c|
      c.interval = 5.seconds
      c.running = false
    end
  end
  w.lifecycle do |on|
    on.condition(:flapping) do |c|
      c.to_state = [:start, :restart]
      c.times = 3
      c.within = 600.seconds
      c.transition = :unmonitored
      c.notify = 'proc_down'
    end
  end
end
