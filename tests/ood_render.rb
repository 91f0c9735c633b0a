# CI's stand-in for how Open OnDemand's dashboard renders each of the app's templates:
# ERB with trim_mode "-", and in each template only what the dashboard binds there.
# Where OOD's code is present, tests/ood holds this to the dashboard's own rendering.
# Usage: ruby tests/ood_render.rb TEMPLATE '{"cluster": "pegasus", ...}'
require "erb"
require "json"
require "ostruct"
require "pathname"

# Like OOD's SessionContext: form values as methods, and an unknown name is an error.
class FormValues
  def initialize(values)
    @values = values
  end

  def method_missing(name, *args)
    @values.key?(name.to_s) ? @values[name.to_s] : super
  end

  def respond_to_missing?(name, include_private = false)
    @values.key?(name.to_s) || super
  end
end

# Like OOD's Session for info and completed views: the form's values only in user_context,
# and the folder the job runs in (given as "staged_root", which the form never has).
class SessionView
  attr_reader :user_context

  def initialize(values)
    @staged_root = values["staged_root"]
    @user_context = values.except("staged_root")
  end

  def staged_root
    Pathname.new(@staged_root || raise(ArgumentError, "this template needs the session's staged_root"))
  end

  def get_binding
    binding
  end
end

# Like OOD's Session::TemplateBinding: `session` and `context` and nothing else.
TemplateBinding = Struct.new(:session, :context) do
  def get_binding
    binding
  end
end

path, values = ARGV.fetch(0), JSON.parse(ARGV.fetch(1))
name = File.basename(path)
bound =
  if path.include?("/template/")
    TemplateBinding.new(SessionView.new(values), FormValues.new(values)).get_binding
  elsif name.start_with?("submit.")
    OpenStruct.new(values).instance_eval { binding }  # OOD: an OpenStruct of the values (unknown names are nil)
  elsif name.start_with?("info.", "completed.")
    # ood_appkit's FilesUrl as the dashboard has it: a path as the Files app opens it. Only
    # here: form.yml.erb asks whether OodAppkit is defined to tell OOD from a stand-in.
    module OodAppkit
      def self.files = Struct.new(:base) { def url(path:) = "#{base}/fs#{path}" }.new("/pun/sys/dashboard/files")
    end
    SessionView.new(values).get_binding
  elsif name.start_with?("view.")
    OpenStruct.new(values).instance_eval { binding }  # OOD: connection.yml as an OpenStruct
  else
    Object.new.instance_eval { binding }  # form.yml.erb: no values yet
  end
print ERB.new(File.read(path), trim_mode: "-").result(bound)
